import type { ReactNode } from 'react';
import { QueryClient, QueryClientProvider } from '@tanstack/react-query';
import { act, render as renderInto, screen, waitFor } from '@testing-library/react';
import { fetchMock } from '../test-setup';
import { AuthProvider, useAuth } from './auth';

function Probe() {
  const auth = useAuth();
  return (
    <p>
      <span data-testid="state">{auth.state}</span>
      <span data-testid="user">{auth.user?.username ?? ''}</span>
    </p>
  );
}

function render(ui: ReactNode) {
  return renderInto(<QueryClientProvider client={new QueryClient()}>{ui}</QueryClientProvider>);
}

function json(status: number, body: unknown): Response {
  return new Response(JSON.stringify(body), { status, headers: { 'Content-Type': 'application/json' } });
}

const ada = { username: 'ada', email: 'ada@example.com', token: 'server-token', bio: null, image: null, emailVerified: true };

describe('AuthProvider', () => {
  it('is signed out at once without a stored token, and asks nothing', () => {
    render(<AuthProvider><Probe /></AuthProvider>);
    expect(screen.getByTestId('state').textContent).toBe('unauthenticated');
    expect(fetchMock).not.toHaveBeenCalled();
    expect(window.__conduit_debug__?.getToken()).toBeNull();
  });

  it('signs in with a stored token the server accepts, sending it as "Token …"', async () => {
    localStorage.setItem('jwtToken', 'stored-token');
    fetchMock.mockResolvedValueOnce(json(200, { user: ada }));
    render(<AuthProvider><Probe /></AuthProvider>);
    await waitFor(() => expect(screen.getByTestId('state').textContent).toBe('authenticated'));
    expect(screen.getByTestId('user').textContent).toBe('ada');
    const request = fetchMock.mock.calls[0]?.[0] as Request;
    expect(new URL(request.url).pathname).toBe('/api/user');
    expect(request.headers.get('Authorization')).toBe('Token stored-token');
    expect(window.__conduit_debug__?.getAuthState()).toBe('authenticated');
    expect(window.__conduit_debug__?.getCurrentUser()?.token).toBe('stored-token');
  });

  it.each([400, 401, 403, 404])('drops a token the server refuses with %i', async (status) => {
    localStorage.setItem('jwtToken', 'bad-token');
    fetchMock.mockResolvedValueOnce(json(status, { errors: { token: ['is invalid'] } }));
    render(<AuthProvider><Probe /></AuthProvider>);
    await waitFor(() => expect(screen.getByTestId('state').textContent).toBe('unauthenticated'));
    expect(localStorage.getItem('jwtToken')).toBeNull();
  });

  it('keeps the token and says unavailable on a server error, an unreadable answer or no answer', async () => {
    for (const answer of [
      () => Promise.resolve(json(500, { errors: { server: ['down'] } })),
      () => Promise.resolve(new Response('{ not json', { status: 200, headers: { 'Content-Type': 'application/json' } })),
      () => Promise.reject(new TypeError('Failed to fetch')),
    ]) {
      localStorage.setItem('jwtToken', 'kept-token');
      fetchMock.mockImplementationOnce(answer);
      const view = render(<AuthProvider><Probe /></AuthProvider>);
      await waitFor(() => expect(screen.getByTestId('state').textContent).toBe('unavailable'));
      expect(localStorage.getItem('jwtToken')).toBe('kept-token');
      view.unmount();
    }
  });

  it('signs in and out', () => {
    function Buttons() {
      const auth = useAuth();
      return (
        <>
          <button type="button" onClick={() => auth.signIn(ada)}>in</button>
          <button type="button" onClick={auth.signOut}>out</button>
        </>
      );
    }
    render(<AuthProvider><Buttons /><Probe /></AuthProvider>);
    act(() => screen.getByText('in').click());
    expect(screen.getByTestId('state').textContent).toBe('authenticated');
    expect(localStorage.getItem('jwtToken')).toBe('server-token');
    act(() => screen.getByText('out').click());
    expect(screen.getByTestId('state').textContent).toBe('unauthenticated');
    expect(localStorage.getItem('jwtToken')).toBeNull();
  });
});
