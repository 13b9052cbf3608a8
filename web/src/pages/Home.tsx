import { Link, Navigate, useLocation, useParams, useSearchParams } from 'react-router';
import { useTags } from '../api/queries';
import { useAuth } from '../auth/auth';
import { ArticleList } from '../components/ArticleList';
import { pageParam } from '../lib/format';

function Tab({ to, active, children }: { to: string; active: boolean; children: React.ReactNode }) {
  return (
    <li className="nav-item">
      <Link to={to} className={`nav-link${active ? ' active' : ''}`} aria-current={active ? 'page' : undefined}>
        {children}
      </Link>
    </li>
  );
}

function PopularTags() {
  const tags = useTags();
  return (
    <div className="sidebar">
      <p>Popular Tags</p>
      {tags.isPending && <p className="muted">Loading tags...</p>}
      {tags.isError && <p className="muted">Tags are unavailable right now.</p>}
      {tags.data && tags.data.length === 0 && <p className="muted">No tags yet.</p>}
      {tags.data && tags.data.length > 0 && (
        <div className="tag-list">
          {tags.data.map((tag) => (
            <Link key={tag} to={`/tag/${encodeURIComponent(tag)}`} className="tag-pill tag-default">
              {tag}
            </Link>
          ))}
        </div>
      )}
    </div>
  );
}

/** Home: Global Feed, Your Feed (`/?feed=following`) and a tag (`/tag/:tag`), paged by `?page=N`. */
export default function Home() {
  const auth = useAuth();
  const location = useLocation();
  const { tag } = useParams();
  const [params] = useSearchParams();
  const following = !tag && params.get('feed') === 'following';
  const page = pageParam(params.get('page'));
  const signedIn = auth.state !== 'unauthenticated';

  if (following && auth.state === 'unauthenticated') {
    return <Navigate to="/login" replace state={{ from: location }} />;
  }

  const pageHref = (n: number) => {
    if (tag) return n === 1 ? `/tag/${encodeURIComponent(tag)}` : `/tag/${encodeURIComponent(tag)}?page=${n}`;
    if (following) return n === 1 ? '/?feed=following' : `/?feed=following&page=${n}`;
    return n === 1 ? '/' : `/?page=${n}`;
  };

  return (
    <div className="home-page">
      <div className="banner">
        <div className="container">
          <h1 className="logo-font">TechHub</h1>
          <p>Where developers write, learn and share what they know.</p>
        </div>
      </div>
      <div className="container page">
        <div className="row">
          <div className="col-md-9">
            <div className="feed-toggle">
              <ul className="nav nav-pills outline-active">
                {signedIn && (
                  <Tab to="/?feed=following" active={following}>
                    Your Feed
                  </Tab>
                )}
                <Tab to="/" active={!following && !tag}>
                  Global Feed
                </Tab>
                {tag && (
                  <Tab to={`/tag/${encodeURIComponent(tag)}`} active>
                    # {tag}
                  </Tab>
                )}
              </ul>
            </div>
            {following && auth.state === 'loading' ? (
              <div className="article-preview loading">Loading your feed...</div>
            ) : (
              <ArticleList
                filter={{ feed: following, tag, page }}
                pageHref={pageHref}
                empty={
                  following ? (
                    <>
                      Your feed is empty. Follow authors to see their articles here, or <Link to="/">browse all articles</Link>.
                    </>
                  ) : undefined
                }
              />
            )}
          </div>
          <div className="col-md-3">
            <PopularTags />
          </div>
        </div>
      </div>
    </div>
  );
}
