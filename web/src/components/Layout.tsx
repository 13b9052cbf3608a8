import { Link, NavLink, Outlet } from 'react-router';
import { useAuth } from '../auth/auth';
import { Avatar } from './Avatar';
import { Icon } from './Icon';
import { ThemeToggle } from './ThemeToggle';

function Item({ to, children, end = false }: { to: string; children: React.ReactNode; end?: boolean }) {
  return (
    <li className="nav-item">
      <NavLink to={to} end={end} className={({ isActive }) => `nav-link${isActive ? ' active' : ''}`}>
        {children}
      </NavLink>
    </li>
  );
}

function Header() {
  const auth = useAuth();
  const user = auth.state === 'authenticated' ? auth.user : null;
  return (
    <nav className="navbar" aria-label="Main">
      <div className="container navbar-inner">
        <Link className="navbar-brand" to="/">
          TechHub
        </Link>
        <ul className="nav navbar-nav">
          <Item to="/" end>
            Home
          </Item>
          <Item to="/search">Search</Item>
          {auth.state === 'loading' ? (
            // A stored token is being checked: neither a member's links nor "Sign in" yet.
            <li className="nav-item nav-pending" aria-busy="true">
              <span className="sr-only">Checking your session…</span>
            </li>
          ) : user ? (
            <>
              <Item to="/dashboard">Dashboard</Item>
              <Item to="/learning">Learning</Item>
              <Item to="/editor" end>
                <Icon name="compose" />
                &nbsp;New Article
              </Item>
              <Item to="/settings">
                <Icon name="gear-a" />
                &nbsp;Settings
              </Item>
              <Item to={`/profile/${user.username}`}>
                <Avatar image={user.image} className="user-pic" size={24} />
                {user.username}
              </Item>
            </>
          ) : (
            <>
              <Item to="/login">Sign in</Item>
              <Item to="/register">Sign up</Item>
            </>
          )}
          <li className="nav-item">
            <ThemeToggle key={user?.username ?? ''} />
          </li>
        </ul>
      </div>
    </nav>
  );
}

/** Shown while a stored token cannot be checked (server error or offline): the app stays usable. */
function Unavailable() {
  const auth = useAuth();
  if (auth.state !== 'unavailable') return null;
  return (
    <div className="unavailable-banner" role="status">
      <div className="container flex flex-wrap items-center gap-3">
        <span>Connecting to TechHub… your session is kept and will be checked again shortly.</span>
        <button type="button" className="btn btn-sm btn-outline-secondary" onClick={auth.retry}>
          Retry now
        </button>
      </div>
    </div>
  );
}

export function Layout() {
  return (
    <div className="app-shell">
      <a href="#main" className="skip-link">
        Skip to content
      </a>
      <Header />
      <Unavailable />
      <main id="main" className="app-main">
        <Outlet />
      </main>
      <footer className="app-footer">
        <div className="container">
          <Link to="/" className="logo-font">
            TechHub
          </Link>
          <span className="attribution"> A community for developers who write, learn and share.</span>
        </div>
      </footer>
    </div>
  );
}
