import { createContext, useCallback, useContext, useEffect, useMemo, useRef, useState, type ReactNode } from 'react';
import { useQueryClient } from '@tanstack/react-query';
import { client, fetchBody, storedToken, storeToken, type User } from '../api/client';
import { ApiError } from '../api/errors';

/**
 * Who is signed in. `unavailable`: a token is stored but the server could not confirm it
 * (5xx, no answer, unreadable answer); the token is kept and the check retried.
 */
export type AuthState = 'loading' | 'authenticated' | 'unauthenticated' | 'unavailable';

export interface Auth {
  state: AuthState;
  user: User | null;
  /** Stores the token and the user an API call returned (sign in, sign up, settings). */
  signIn(user: User): void;
  signOut(): void;
  /** The user signed out in this tab (pages for members then lead home, not to sign in). */
  signedOut: boolean;
  /** Asks the server again now (the "reconnect" of the unavailable state). */
  retry(): void;
}

const AuthContext = createContext<Auth | null>(null);

/** Retry delays while the server cannot confirm the token, in ms. */
const RETRY_DELAYS = [2_000, 5_000, 10_000, 30_000];

/** What `window.__conduit_debug__` reports: the RealWorld e2e contract. */
const debugView: { state: AuthState; user: User | null } = { state: 'loading', user: null };

declare global {
  interface Window {
    __conduit_debug__?: {
      getToken(): string | null;
      getAuthState(): AuthState;
      getCurrentUser(): (User & { token: string }) | null;
    };
  }
}

window.__conduit_debug__ = {
  getToken: () => storedToken(),
  getAuthState: () => debugView.state,
  getCurrentUser: () => {
    const token = storedToken();
    return debugView.user && token ? { ...debugView.user, token } : null;
  },
};

async function fetchCurrentUser(): Promise<User> {
  const body = await fetchBody(client.GET('/api/user'));
  return body.user;
}

export function AuthProvider({ children }: { children: ReactNode }) {
  const [state, setState] = useState<AuthState>(() => (storedToken() ? 'loading' : 'unauthenticated'));
  const [user, setUser] = useState<User | null>(null);
  const [attempt, setAttempt] = useState(0);
  const [signedOut, setSignedOut] = useState(false);
  const queries = useQueryClient();
  const failures = useRef(0);

  /** Signed in or out for sure: nothing to check. */
  const settled = useRef(!storedToken());

  // Checks the stored token at start and on each retry (never once settled).
  useEffect(() => {
    if (!storedToken() || settled.current) return;
    let cancelled = false;
    fetchCurrentUser().then(
      (u) => {
        if (cancelled) return;
        failures.current = 0;
        settled.current = true;
        setUser(u);
        setState('authenticated');
      },
      (e: unknown) => {
        if (cancelled) return;
        if (e instanceof ApiError && e.status >= 400 && e.status < 500) {
          // The server refused the token: it is of no use any more.
          storeToken(null);
          settled.current = true;
          setUser(null);
          setState('unauthenticated');
          // What was asked with the refused token (and refused with it) is asked again without;
          // asks still in flight are cancelled first, or a refetch would join them.
          void queries.cancelQueries().then(() => queries.invalidateQueries());
          return;
        }
        setState('unavailable');
        const delay = RETRY_DELAYS[Math.min(failures.current, RETRY_DELAYS.length - 1)] ?? 30_000;
        failures.current += 1;
        window.setTimeout(() => !cancelled && setAttempt((n) => n + 1), delay);
      },
    );
    return () => {
      cancelled = true;
    };
  }, [attempt, queries]);

  const current = useRef<string | null>(null);
  useEffect(() => {
    current.current = user?.username ?? null;
  }, [user]);
  const signIn = useCallback((u: User) => {
    const switched = current.current !== null && current.current !== u.username;
    storeToken(u.token);
    settled.current = true;
    failures.current = 0;
    setSignedOut(false);
    setUser(u);
    setState('authenticated');
    if (switched) {
      // Another account: nothing the previous one loaded (dashboard, billing, drafts) may show.
      queries.removeQueries();
      return;
    }
    // Lists and articles carry the reader's own flags (favorited, following).
    void queries.cancelQueries().then(() => queries.invalidateQueries());
  }, [queries]);

  const signOut = useCallback(() => {
    storeToken(null);
    settled.current = true;
    setSignedOut(true);
    setUser(null);
    setState('unauthenticated');
    queries.removeQueries();
  }, [queries]);

  const retry = useCallback(() => setAttempt((n) => n + 1), []);

  useEffect(() => {
    debugView.state = state;
    debugView.user = user;
  }, [state, user]);

  const value = useMemo(() => ({ state, user, signIn, signOut, signedOut, retry }), [state, user, signIn, signOut, signedOut, retry]);
  return <AuthContext.Provider value={value}>{children}</AuthContext.Provider>;
}

export function useAuth(): Auth {
  const auth = useContext(AuthContext);
  if (!auth) throw new Error('useAuth outside AuthProvider');
  return auth;
}
