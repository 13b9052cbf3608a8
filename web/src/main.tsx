import { StrictMode } from 'react';
import { createRoot } from 'react-dom/client';
import { QueryClient, QueryClientProvider } from '@tanstack/react-query';
import { RouterProvider } from 'react-router';
import { ApiError } from './api/errors';
import { AuthProvider } from './auth/auth';
import { createRouter } from './routes';
import { startTheme } from './lib/theme';
import './index.css';

/** Retries what may pass a moment later (no answer, 5xx), twice, quickly; never a 4xx. */
function retry(failures: number, error: unknown): boolean {
  if (failures >= 2) return false;
  return error instanceof ApiError && (error.status === 0 || error.status >= 500);
}

const queryClient = new QueryClient({
  defaultOptions: {
    queries: { retry, retryDelay: (n) => 300 * 2 ** n, refetchOnWindowFocus: false, staleTime: 5_000 },
    mutations: { retry: false },
  },
});

startTheme();

const root = document.getElementById('root');
if (!root) throw new Error('#root missing from index.html');
createRoot(root).render(
  <StrictMode>
    <QueryClientProvider client={queryClient}>
      <AuthProvider>
        <RouterProvider router={createRouter()} />
      </AuthProvider>
    </QueryClientProvider>
  </StrictMode>,
);
