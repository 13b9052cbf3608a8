import { createBrowserRouter, type RouteObject } from 'react-router';
import { RequireAuth } from './auth/RequireAuth';
import { Layout } from './components/Layout';
import Home from './pages/Home';

// Every page but the home page is its own chunk. The router loads it before it moves to the
// page (route `lazy`), so the address and what is shown change together.
const page = (load: () => Promise<{ default: React.ComponentType }>) => async () => ({ Component: (await load()).default });

/** The one route table of the app. Paths of the RealWorld contract keep their names. */
export const routes: RouteObject[] = [
  {
    element: <Layout />,
    children: [
      { path: '/', element: <Home /> },
      { path: '/tag/:tag', element: <Home /> },
      { path: '/login', lazy: page(() => import('./pages/AuthPages').then((m) => ({ default: m.Login }))) },
      { path: '/register', lazy: page(() => import('./pages/AuthPages').then((m) => ({ default: m.Register }))) },
      { path: '/article/:slug', lazy: page(() => import('./pages/Article')) },
      { path: '/profile/:username', lazy: page(() => import('./pages/Profile')) },
      { path: '/profile/:username/favorites', lazy: page(() => import('./pages/Profile').then((m) => ({ default: m.ProfileFavorites }))) },
      { path: '/search', lazy: page(() => import('./pages/Search')) },
      { path: '/verify-email', lazy: page(() => import('./pages/Verify')) },
      {
        element: <RequireAuth />,
        children: [
          { path: '/settings', lazy: page(() => import('./pages/Settings')) },
          { path: '/editor', lazy: page(() => import('./pages/Editor')) },
          { path: '/editor/:slug', lazy: page(() => import('./pages/Editor')) },
          { path: '/dashboard', lazy: page(() => import('./pages/Dashboard')) },
          { path: '/learning', lazy: page(() => import('./pages/Learning')) },
          { path: '/learning/paths', lazy: page(() => import('./pages/Learning').then((m) => ({ default: m.LearningPaths }))) },
          { path: '/learning/assessments', lazy: page(() => import('./pages/Learning').then((m) => ({ default: m.LearningAssessments }))) },
          { path: '/drafts', lazy: page(() => import('./pages/Library').then((m) => ({ default: m.Drafts }))) },
          { path: '/bookmarks', lazy: page(() => import('./pages/Library').then((m) => ({ default: m.Bookmarks }))) },
          { path: '/article/:slug/analytics', lazy: page(() => import('./pages/ArticleAnalytics')) },
          { path: '/billing', lazy: page(() => import('./pages/Billing')) },
          { path: '/admin', lazy: page(() => import('./pages/Admin')) },
        ],
      },
      { path: '*', lazy: page(() => import('./pages/NotFound')) },
    ],
  },
];

export function createRouter() {
  return createBrowserRouter(routes);
}
