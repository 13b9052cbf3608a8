import { useLocation, useNavigate } from 'react-router';
import { useAuth } from './auth';

/**
 * Wraps an action only members can take (favorite, follow): a signed-out reader is sent to
 * sign in, and comes back to this page afterwards.
 */
export function useMemberAction<T>(action: (value: T) => void): (value: T) => void {
  const auth = useAuth();
  const navigate = useNavigate();
  const location = useLocation();
  return (value: T) => {
    if (auth.state !== 'authenticated') {
      navigate('/login', { state: { from: location } });
      return;
    }
    action(value);
  };
}
