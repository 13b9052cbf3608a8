import { useEffect, useRef } from 'react';
import { useMutation } from '@tanstack/react-query';
import { Link, useSearchParams } from 'react-router';
import { client, fetchBody } from '../api/client';
import { asApiError } from '../api/errors';
import { useAuth } from '../auth/auth';
import { Page, Skeleton } from '../components/Page';

/** The landing page of the link in the verification email: `/verify-email?token=…`. */
export default function VerifyEmail() {
  const [params] = useSearchParams();
  const token = params.get('token') ?? '';
  const auth = useAuth();
  // A token works once: it is sent once per page, however often the page renders (the ref
  // also holds across React's development double effects).
  const verify = useMutation({
    mutationFn: async (t: string) => (await fetchBody(client.POST('/api/user/verify', { body: { token: t } }))).user,
    // The link's owner is signed in, unless someone else already is here.
    onSuccess: (user) => {
      if (!auth.user || auth.user.username === user.username) auth.signIn(user);
    },
  });
  const sent = useRef<string | null>(null);
  const { mutate } = verify;
  useEffect(() => {
    if (token === '' || sent.current === token) return;
    sent.current = token;
    mutate(token);
  }, [token, mutate]);
  return (
    <Page title="Confirm your email" className="verify-page">
      {token === '' ? (
        <p className="error-messages" role="alert">
          This link has no token. Open the link from the email exactly as it was sent.
        </p>
      ) : verify.isPending || verify.isIdle ? (
        <Skeleton lines={2} label="Confirming your email address" />
      ) : verify.isError ? (
        <div role="alert">
          <p className="error-messages">
            {asApiError(verify.error).status === 422
              ? 'This link is invalid, already used or expired.'
              : asApiError(verify.error).messages.join(' ')}
          </p>
          <p className="mt-2">
            <Link to="/">Back to TechHub</Link>
          </p>
        </div>
      ) : (
        <div role="status" className="verified">
          <p className="success-message">Thank you, {verify.data.username}: {verify.data.email} is confirmed.</p>
          <p className="mt-2">
            <Link to="/dashboard">Go to your dashboard</Link>
          </p>
        </div>
      )}
    </Page>
  );
}
