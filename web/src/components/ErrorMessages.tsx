import { useEffect, useRef } from 'react';
import { Link, useLocation } from 'react-router';
import { asApiError } from '../api/errors';

/** The API's field errors as a list (`.error-messages`, the e2e contract), or nothing. */
export function ErrorMessages({ error }: { error: unknown }) {
  const location = useLocation();
  const list = useRevealed<HTMLUListElement>(error);
  if (!error) return null;
  const apiError = asApiError(error);
  return (
    <ul className="error-messages" role="alert" ref={list}>
      {apiError.messages.map((m) => (
        <li key={m}>{m}</li>
      ))}
      {apiError.isAuth && (
        <li>
          Your session has ended:{' '}
          <Link to="/login?again=1" state={{ from: location }} className="underline">
            sign in again
          </Link>
          .
        </li>
      )}
    </ul>
  );
}

/** A page-level failure: what went wrong and a way to try again. */
export function LoadError({ error, retry, what }: { error: unknown; retry?: () => void; what: string }) {
  const apiError = asApiError(error);
  return (
    <div className="load-error my-6 rounded-lg border border-red-200 bg-red-50 p-4 text-red-800 dark:border-red-900 dark:bg-red-950 dark:text-red-200" role="alert">
      <p className="font-semibold">Could not load {what}.</p>
      <p className="text-sm">{apiError.status === 404 ? `No such ${what}.` : apiError.messages.join(' ')}</p>
      {retry && apiError.status !== 404 && (
        <button type="button" className="btn btn-sm btn-outline-secondary mt-2" onClick={retry}>
          Try again
        </button>
      )}
    </div>
  );
}

/**
 * A ref whose element is scrolled into view whenever `trigger` changes to something: a message
 * that appears above the button the user pressed must not stay out of sight.
 */
export function useRevealed<T extends HTMLElement>(trigger: unknown) {
  const ref = useRef<T>(null);
  useEffect(() => {
    if (trigger) ref.current?.scrollIntoView?.({ block: 'nearest' });
  }, [trigger]);
  return ref;
}
