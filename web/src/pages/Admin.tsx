import { useMemo, useState } from 'react';
import { asApiError } from '../api/errors';
import { useActiveUsers, useEngagementReport, useTopTechnologies } from '../api/techhub';
import { Chart } from '../components/Chart';
import { LoadError } from '../components/ErrorMessages';
import { ChartsLoading, Page } from '../components/Page';

function ActiveUsers() {
  const [period, setPeriod] = useState('day');
  const report = useActiveUsers(period);
  const rows = report.data?.activeUsers;
  const labels = useMemo(() => (rows ?? []).map((r) => r.period), [rows]);
  const series = useMemo(() => [{ label: 'Active users', values: (rows ?? []).map((r) => r.activeUsers) }], [rows]);
  return (
    <section aria-labelledby="active-heading">
      <div className="section-head">
        <h2 id="active-heading" className="section-title">
          Active users
        </h2>
        <label className="text-sm">
          Per{' '}
          <select className="form-control inline-select" value={period} onChange={(e) => setPeriod(e.target.value)}>
            <option>day</option>
            <option>week</option>
            <option>month</option>
          </select>
        </label>
      </div>
      {report.isPending ? <ChartsLoading count={1} label="Loading the report" /> : report.isError ? <LoadError error={report.error} retry={() => void report.refetch()} what="active users" /> : <Chart title={`Active users per ${period}`} kind="line" labels={labels} series={series} />}
    </section>
  );
}

function TopTechnologies() {
  const report = useTopTechnologies();
  const rows = report.data?.technologies;
  const labels = useMemo(() => (rows ?? []).map((r) => r.technology), [rows]);
  const series = useMemo(
    () => [
      { label: 'Sessions', values: (rows ?? []).map((r) => r.sessions) },
      { label: 'Learners', values: (rows ?? []).map((r) => r.learners) },
    ],
    [rows],
  );
  return (
    <section aria-labelledby="tech-heading">
      <h2 id="tech-heading" className="section-title">
        Top technologies this week
      </h2>
      {report.isPending ? (
        <ChartsLoading count={1} label="Loading the report" />
      ) : report.isError ? (
        <LoadError error={report.error} retry={() => void report.refetch()} what="top technologies" />
      ) : labels.length === 0 ? (
        <p className="muted">No sessions this week yet.</p>
      ) : (
        <Chart title="Sessions and learners per technology" kind="bar" horizontal labels={labels} series={series} />
      )}
    </section>
  );
}

function Engagement() {
  const report = useEngagementReport();
  const rows = report.data?.distribution;
  const labels = useMemo(() => (rows ?? []).map((r) => `${r.from}–${r.to}`), [rows]);
  const series = useMemo(() => [{ label: 'Users', values: (rows ?? []).map((r) => r.users) }], [rows]);
  return (
    <section aria-labelledby="engagement-heading">
      <h2 id="engagement-heading" className="section-title">
        Engagement scores
      </h2>
      {report.isPending ? <ChartsLoading count={1} label="Loading the report" /> : report.isError ? <LoadError error={report.error} retry={() => void report.refetch()} what="engagement" /> : <Chart title="Users per engagement score band" kind="bar" labels={labels} series={series} />}
    </section>
  );
}

/** Reports for administrators; anyone else is told the page is for admins. */
export default function Admin() {
  // One report decides whether the caller may see them: a 403 replaces the page.
  const probe = useEngagementReport();
  if (probe.isError && asApiError(probe.error).status === 403) {
    return (
      <Page title="Admin reports" className="admin-page">
        <p className="error-messages admins-only" role="alert">
          These reports are for administrators only.
        </p>
      </Page>
    );
  }
  return (
    <Page title="Admin reports" className="admin-page" intro="Activity across TechHub, from the learning analytics.">
      <div className="chart-grid">
        <ActiveUsers />
        <Engagement />
      </div>
      <TopTechnologies />
    </Page>
  );
}
