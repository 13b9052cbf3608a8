import type { Profile } from '../api/client';
import { useToggleFollow } from '../api/queries';
import { useMemberAction } from '../auth/useMemberAction';
import { Icon } from './Icon';

/** "Follow ada" / "Unfollow ada", shown at once and undone if the server refuses. */
export function FollowButton({ profile }: { profile: Profile }) {
  const toggle = useToggleFollow();
  const run = useMemberAction(toggle.mutate);
  const onClick = () => run(profile);
  return (
    <button
      type="button"
      className={`btn btn-sm action-btn ${profile.following ? 'btn-secondary' : 'btn-outline-secondary'}`}
      onClick={onClick}
      aria-pressed={profile.following}
      title={toggle.isError ? 'Could not save: try again' : undefined}
    >
      <Icon name="plus-round" />
      &nbsp; {profile.following ? 'Unfollow' : 'Follow'} {profile.username}
    </button>
  );
}
