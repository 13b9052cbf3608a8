import { lazy, Suspense } from 'react';
import { createBrowserRouter, type RouteObject } from 'react-router';
import { RequireAuth } from './auth/RequireAuth';
import { Layout } from './components/Layout';
import Home from './pages/Home';

// Every page but the home page is its own chunk, loaded when first visited.
const Login = lazy(() => import('./pages/AuthPages').then((m) => ({ default: m.Login })));
const Register = lazy(() => import('./pages/AuthPages').then((m) => ({ default: m.Register })));
const Settings = lazy(() => import('./pages/Settings'));
const Editor = lazy(() => import('./pages/Editor'));
const ArticlePage = lazy(() => import('./pages/Article'));
const ProfilePage = lazy(() => import('./pages/Profile'));
const NotFound = lazy(() => import('./pages/NotFound'));

function page(element: React.ReactNode) {
  return (
    <Suspense
      fallback={
        <div className="container page">
          <p className="muted py-8" aria-busy="true">
            Loading...
          </p>
        </div>
      }
    >
      {element}
    </Suspense>
  );
}

/** The one route table of the app. Paths of the RealWorld contract keep their names. */
export const routes: RouteObject[] = [
  {
    element: <Layout />,
    children: [
      { path: '/', element: <Home /> },
      { path: '/tag/:tag', element: <Home /> },
      { path: '/login', element: page(<Login />) },
      { path: '/register', element: page(<Register />) },
      { path: '/article/:slug', element: page(<ArticlePage />) },
      { path: '/profile/:username', element: page(<ProfilePage />) },
      { path: '/profile/:username/favorites', element: page(<ProfilePage favorites />) },
      {
        element: <RequireAuth />,
        children: [
          { path: '/settings', element: page(<Settings />) },
          { path: '/editor', element: page(<Editor />) },
          { path: '/editor/:slug', element: page(<Editor />) },
        ],
      },
      { path: '*', element: page(<NotFound />) },
    ],
  },
];

export function createRouter() {
  return createBrowserRouter(routes);
}
