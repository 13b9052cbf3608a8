import { useQuery } from '@tanstack/react-query';
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
  // A query, not an effect: it runs once per token however often the page renders.
  const verify = useQuery({
    queryKey: ['verify-email', token],
    enabled: token !== '',
    retry: false,
    staleTime: Infinity,
    gcTime: Infinity,
    queryFn: async () => {
      const user = (await fetchBody(client.POST('/api/user/verify', { body: { token } }))).user;
      auth.signIn(user);
      return user;
    },
  });
  return (
    <Page title="Confirm your email" className="verify-page">
      {token === '' ? (
        <p className="error-messages" role="alert">
          This link has no token. Open the link from the email exactly as it was sent.
        </p>
      ) : verify.isPending ? (
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
