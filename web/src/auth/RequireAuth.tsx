import { Navigate, Outlet, useLocation } from 'react-router';
import { useAuth } from './auth';

/** Pages for signed-in users: others go to sign in, and come back here after. */
export function RequireAuth() {
  const auth = useAuth();
  const location = useLocation();
  if (auth.state === 'unauthenticated') {
    // Signed out here a moment ago: home, not "sign in to come back here".
    if (auth.signedOut) return <Navigate to="/" replace />;
    return <Navigate to="/login" replace state={{ from: location }} />;
  }
  if (auth.state === 'unavailable') {
    return (
      <div className="container page">
        <p className="muted py-8" aria-busy="true">
          This page needs your account; it opens once TechHub answers.
        </p>
      </div>
    );
  }
  // Signed in, or a stored token still being checked: the page shows at once, and a token the
  // server refuses sends the user to sign in.
  return <Outlet />;
}
