import { Link, useParams, useSearchParams } from 'react-router';
import { useProfile } from '../api/queries';
import { useAuth } from '../auth/auth';
import { ArticleList } from '../components/ArticleList';
import { Avatar } from '../components/Avatar';
import { LoadError } from '../components/ErrorMessages';
import { FollowButton } from '../components/FollowButton';
import { Icon } from '../components/Icon';
import { pageParam } from '../lib/format';

/** A profile: who it is, and their articles or the articles they favorited. */
export default function ProfilePage({ favorites = false }: { favorites?: boolean }) {
  const { username = '' } = useParams();
  const [params] = useSearchParams();
  const page = pageParam(params.get('page'));
  const auth = useAuth();
  const profile = useProfile(username);
  const base = `/profile/${encodeURIComponent(username)}`;
  const mine = auth.user?.username === username;

  return (
    <div className="profile-page">
      {profile.data ? (
        <div className="user-info">
          <div className="container">
            <div className="row">
              <div className="col-xs-12 col-md-10 offset-md-1">
                <Avatar image={profile.data.image} className="user-img" size={100} alt="" />
                <h4>{profile.data.username}</h4>
                <p>{profile.data.bio ?? ''}</p>
                {mine ? (
                  <Link to="/settings" className="btn btn-sm btn-outline-secondary action-btn">
                    <Icon name="gear-a" />
                    &nbsp; Edit Profile Settings
                  </Link>
                ) : (
                  <FollowButton profile={profile.data} />
                )}
              </div>
            </div>
          </div>
        </div>
      ) : (
        // No .user-info until the profile is known: the e2e contract treats it as "the profile loaded".
        <div className="container page">
          {profile.isError ? (
            <LoadError error={profile.error} retry={() => void profile.refetch()} what="profile" />
          ) : (
            <p className="muted py-8" aria-busy="true">
              Loading the profile...
            </p>
          )}
        </div>
      )}
      {profile.data && (
        <div className="container">
          <div className="row">
            <div className="col-xs-12 col-md-10 offset-md-1">
              <div className="articles-toggle">
                <ul className="nav nav-pills outline-active">
                  <li className="nav-item">
                    <Link className={`nav-link${favorites ? '' : ' active'}`} to={base}>
                      My Articles
                    </Link>
                  </li>
                  <li className="nav-item">
                    <Link className={`nav-link${favorites ? ' active' : ''}`} to={`${base}/favorites`}>
                      Favorited Articles
                    </Link>
                  </li>
                </ul>
              </div>
              <ArticleList
                filter={favorites ? { favorited: username, page } : { author: username, page }}
                pageHref={(n) => `${favorites ? `${base}/favorites` : base}${n === 1 ? '' : `?page=${n}`}`}
                empty={favorites ? `${username} has not favorited any articles yet.` : `${username} has not published any articles yet.`}
              />
            </div>
          </div>
        </div>
      )}
    </div>
  );
}

/** The profile's favorited articles (`/profile/:username/favorites`). */
export function ProfileFavorites() {
  return <ProfilePage favorites />;
}
