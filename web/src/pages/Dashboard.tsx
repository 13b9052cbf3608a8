import { Link } from 'react-router';
import { useDashboard } from '../api/techhub';
import { LoadError } from '../components/ErrorMessages';
import { Page, Skeleton, Stat } from '../components/Page';
import { formatDate } from '../lib/format';

const STORE_PARTS: Record<string, string> = {
  mysql: 'account and plan',
  postgres: 'learning figures',
  mongodb: 'posts, following and bookmarks',
};

/** The signed-in user's overview. A part whose store did not answer says so; it never reads 0. */
export default function Dashboard() {
  const dashboard = useDashboard();
  if (dashboard.isPending) {
    return (
      <Page title="Dashboard" className="dashboard-page">
        <Skeleton lines={6} label="Loading your dashboard" />
      </Page>
    );
  }
  if (dashboard.isError) {
    return (
      <Page title="Dashboard" className="dashboard-page">
        <LoadError error={dashboard.error} retry={() => void dashboard.refetch()} what="your dashboard" />
      </Page>
    );
  }
  const d = dashboard.data;
  const { account, subscription: plan, learning, content } = d;
  return (
    <Page
      title="Dashboard"
      className="dashboard-page"
      intro={account ? `Welcome back, ${account.username}.` : undefined}
      actions={
        <>
          <Link className="btn btn-sm btn-outline-primary" to="/learning">
            Record a session
          </Link>
          <Link className="btn btn-sm btn-outline-secondary" to="/editor">
            Write a post
          </Link>
          {account?.role === 'admin' && (
            <Link className="btn btn-sm btn-outline-secondary" to="/admin">
              Admin reports
            </Link>
          )}
        </>
      }
    >
      {d.degraded.length > 0 && (
        <div className="degraded-banner" role="status" data-testid="degraded">
          Some parts are unavailable right now ({d.degraded.map((s) => STORE_PARTS[s] ?? s).join('; ')}). The rest is current; try again in a moment.{' '}
          <button type="button" className="btn btn-sm btn-outline-secondary" onClick={() => void dashboard.refetch()}>
            Reload
          </button>
        </div>
      )}
      <section aria-labelledby="learning-heading" className="dash-section">
        <h2 id="learning-heading">Learning</h2>
        <dl className="stats">
          <Stat testId="points" label="Points" value={learning ? learning.totalPoints.toLocaleString('en-US') : null} />
          <Stat testId="streak" label="Streak" value={learning ? `${learning.streakDays} ${learning.streakDays === 1 ? 'day' : 'days'}` : null} hint={learning ? `Longest: ${learning.longestStreak}` : undefined} />
          <Stat testId="engagement" label="Engagement score" value={learning ? learning.engagementScore.toFixed(1) : null} />
          <Stat testId="sessions-week" label="Sessions this week" value={learning ? learning.sessionsThisWeek : null} hint={learning ? `${learning.minutesThisWeek} minutes` : undefined} />
        </dl>
      </section>
      <section aria-labelledby="account-heading" className="dash-section">
        <h2 id="account-heading">Account</h2>
        <dl className="stats">
          <Stat testId="plan" label="Plan" value={plan ? <Link to="/billing" className="capitalize">{plan.plan}</Link> : null} hint={plan?.currentPeriodEnd ? `Renews ${formatDate(plan.currentPeriodEnd)}` : undefined} />
          <Stat testId="following" label="Following" value={content ? content.following : null} />
          <Stat testId="bookmarks" label="Bookmarks" value={content ? <Link to="/bookmarks">{content.bookmarks}</Link> : null} />
          <Stat testId="posts" label="Posts" value={content ? content.totalPosts : null} />
        </dl>
        {account && !account.emailVerified && (
          <p className="muted text-sm mt-2">Your email address is not confirmed yet: open the link in the email we sent to {account.email}.</p>
        )}
      </section>
      <section aria-labelledby="recent-heading" className="dash-section">
        <h2 id="recent-heading">Your recent posts</h2>
        {content === null ? (
          <p className="unavailable">Your posts are unavailable right now.</p>
        ) : content.recentPosts.length === 0 ? (
          <p className="muted">
            You have not published anything yet. <Link to="/editor">Write your first post</Link>.
          </p>
        ) : (
          <ul className="recent-posts">
            {content.recentPosts.map((p) => (
              <li key={p.slug}>
                <Link to={`/article/${encodeURIComponent(p.slug)}`}>{p.title}</Link>
                <span className="muted text-sm">
                  {' '}
                  · {p.views} views · {p.favoritesCount} likes · {p.comments} comments ·{' '}
                  <Link to={`/article/${encodeURIComponent(p.slug)}/analytics`}>analytics</Link>
                </span>
              </li>
            ))}
          </ul>
        )}
      </section>
    </Page>
  );
}
