import { useMemo, useState } from 'react';
import { Link, useParams } from 'react-router';
import { useArticleAnalytics } from '../api/techhub';
import { Chart } from '../components/Chart';
import { LoadError } from '../components/ErrorMessages';
import { Page, Skeleton, Stat } from '../components/Page';

/** Views, likes and comments per day of one article, for its author. */
export default function ArticleAnalytics() {
  const { slug = '' } = useParams();
  const [days, setDays] = useState(30);
  const analytics = useArticleAnalytics(slug, days);
  const daily = analytics.data?.daily;
  const labels = useMemo(() => (daily ?? []).map((d) => d.day.slice(5)), [daily]);
  const views = useMemo(() => [{ label: 'Views', values: (daily ?? []).map((d) => d.views) }], [daily]);
  const reactions = useMemo(
    () => [
      { label: 'Likes', values: (daily ?? []).map((d) => d.likes) },
      { label: 'Comments', values: (daily ?? []).map((d) => d.comments) },
    ],
    [daily],
  );
  const title = analytics.data?.article.title;
  return (
    <Page
      title="Article analytics"
      className="analytics-page"
      intro={title ? <Link to={`/article/${encodeURIComponent(slug)}`}>{title}</Link> : undefined}
      actions={
        <label className="text-sm">
          Days{' '}
          <select className="form-control inline-select" value={days} onChange={(e) => setDays(Number(e.target.value))}>
            {[7, 30, 90].map((d) => (
              <option key={d}>{d}</option>
            ))}
          </select>
        </label>
      }
    >
      {analytics.isPending ? (
        <Skeleton lines={8} label="Loading the analytics" />
      ) : analytics.isError ? (
        <LoadError error={analytics.error} retry={() => void analytics.refetch()} what="this article's analytics" />
      ) : (
        <>
          <dl className="stats">
            <Stat testId="views" label="Views" value={analytics.data.totals.views} />
            <Stat testId="likes" label="Likes" value={analytics.data.totals.likes} />
            <Stat testId="comments" label="Comments" value={analytics.data.totals.comments} />
            <Stat testId="bookmarks" label="Bookmarks" value={analytics.data.totals.bookmarks} />
          </dl>
          {analytics.data.days < days && <p className="muted text-sm">Your plan's analytics reach back {analytics.data.days} days.</p>}
          <div className="chart-grid">
            <Chart title="Views per day" kind="bar" labels={labels} series={views} />
            <Chart title="Likes and comments per day" kind="line" labels={labels} series={reactions} />
          </div>
        </>
      )}
    </Page>
  );
}
