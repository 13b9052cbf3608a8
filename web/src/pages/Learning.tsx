import { useMemo, useState } from 'react';
import { NavLink, useSearchParams } from 'react-router';
import {
  SESSIONS_PAGE,
  useAssessments,
  useCreatePath,
  useInsights,
  usePaths,
  useRecordAssessment,
  useRecentSessions,
  useRecordSession,
  useSessions,
  useToggleMilestone,
  type LearningPath,
} from '../api/techhub';
import { Chart } from '../components/Chart';
import { ChartsLoading } from '../components/Page';
import { ErrorMessages, LoadError } from '../components/ErrorMessages';
import { Page, Pager, Skeleton } from '../components/Page';
import { formatDate, pageParam } from '../lib/format';

export const CONTENT_TYPES = ['post', 'tutorial', 'video', 'course', 'exercise', 'documentation'] as const;
const ASSESSMENT_TYPES = ['quiz', 'project', 'peer_review', 'self'] as const;

/** "go, rust , sql" → ["go", "rust", "sql"] (trimmed, no empties, no duplicates). */
export function splitList(text: string): string[] {
  return [...new Set(text.split(',').map((t) => t.trim()).filter(Boolean))];
}

function Tabs() {
  const tab = (to: string, label: string) => (
    <li className="nav-item">
      <NavLink to={to} end className={({ isActive }) => `nav-link${isActive ? ' active' : ''}`}>
        {label}
      </NavLink>
    </li>
  );
  return (
    <nav className="articles-toggle" aria-label="Learning">
      <ul className="nav nav-pills outline-active">
        {tab('/learning', 'Sessions and insights')}
        {tab('/learning/paths', 'Learning paths')}
        {tab('/learning/assessments', 'Skill assessments')}
      </ul>
    </nav>
  );
}

function RecordSession() {
  const record = useRecordSession();
  const [contentType, setContentType] = useState<string>('tutorial');
  const [technologies, setTechnologies] = useState('');
  const [minutes, setMinutes] = useState('30');
  const [completion, setCompletion] = useState('100');
  const [rating, setRating] = useState('');
  const [notes, setNotes] = useState('');
  return (
    <form
      className="card card-block record-session"
      noValidate
      onSubmit={(e) => {
        e.preventDefault();
        record.mutate(
          {
            contentType,
            technologies: splitList(technologies),
            durationMinutes: Number(minutes),
            completion: Number(completion),
            rating: rating ? Number(rating) : null,
            notes: notes.trim() || null,
          },
          { onSuccess: () => setNotes('') },
        );
      }}
    >
      <h2 className="section-title">Record a session</h2>
      <ErrorMessages error={record.error} />
      {record.isSuccess && (
        <p className="success-message" role="status">
          Recorded: {record.data.durationMinutes} minutes, {record.data.points} points.
        </p>
      )}
      <fieldset disabled={record.isPending} className="form-grid">
        <label>
          What
          <select className="form-control" value={contentType} onChange={(e) => setContentType(e.target.value)}>
            {CONTENT_TYPES.map((t) => (
              <option key={t}>{t}</option>
            ))}
          </select>
        </label>
        <label>
          Technologies (comma separated)
          <input className="form-control" name="technologies" value={technologies} onChange={(e) => setTechnologies(e.target.value)} placeholder="rust, sql" />
        </label>
        <label>
          Minutes
          <input className="form-control" name="minutes" type="number" min={1} max={1440} value={minutes} onChange={(e) => setMinutes(e.target.value)} />
        </label>
        <label>
          Completion (%)
          <input className="form-control" name="completion" type="number" min={0} max={100} value={completion} onChange={(e) => setCompletion(e.target.value)} />
        </label>
        <label>
          Rating
          <select className="form-control" value={rating} onChange={(e) => setRating(e.target.value)}>
            <option value="">none</option>
            {[1, 2, 3, 4, 5].map((r) => (
              <option key={r} value={r}>
                {r} / 5
              </option>
            ))}
          </select>
        </label>
        <label className="form-grid-wide">
          Notes
          <input className="form-control" name="notes" value={notes} onChange={(e) => setNotes(e.target.value)} placeholder="What did you learn?" />
        </label>
      </fieldset>
      <button type="submit" className="btn btn-primary mt-3" disabled={record.isPending}>
        {record.isPending ? 'Recording…' : 'Record session'}
      </button>
    </form>
  );
}

function InsightsCharts() {
  const [weeks, setWeeks] = useState(8);
  const insights = useInsights(weeks);
  const trends = insights.data?.weeklyTrends;
  const labels = useMemo(() => (trends ?? []).map((t) => t.week.slice(5)), [trends]);
  const minutes = useMemo(() => [{ label: 'Minutes', values: (trends ?? []).map((t) => t.minutes) }], [trends]);
  const sessions = useMemo(() => [{ label: 'Sessions', values: (trends ?? []).map((t) => t.sessions) }], [trends]);
  const i = insights.data?.insights;
  return (
    <section aria-labelledby="insights-heading" className="dash-section">
      <div className="section-head">
        <h2 id="insights-heading" className="section-title">
          Insights
        </h2>
        <label className="text-sm">
          Weeks{' '}
          <select className="form-control inline-select" value={weeks} onChange={(e) => setWeeks(Number(e.target.value))}>
            {[4, 8, 12, 26].map((w) => (
              <option key={w}>{w}</option>
            ))}
          </select>
        </label>
      </div>
      {insights.isPending ? (
        <ChartsLoading count={2} label="Loading your insights" />
      ) : insights.isError ? (
        <LoadError error={insights.error} retry={() => void insights.refetch()} what="your insights" />
      ) : (
        <>
          {insights.data.weeks < weeks && <p className="muted text-sm">Your plan's analytics reach back {insights.data.weeks} weeks.</p>}
          <div className="chart-grid">
            <Chart title="Minutes per week" kind="bar" labels={labels} series={minutes} />
            <Chart title="Sessions per week" kind="line" labels={labels} series={sessions} />
          </div>
          <div className="top-technologies">
            <h3 className="font-semibold">Top technologies (last 30 days)</h3>
            {i && i.top_technologies.length > 0 ? (
              <TechnologyChart names={i.top_technologies} />
            ) : (
              <p className="muted">Record a session with technologies to see them here.</p>
            )}
          </div>
        </>
      )}
    </section>
  );
}

/** The top technologies by minutes, from the sessions of the last 30 days (the newest 100 at most). */
function TechnologyChart({ names }: { names: string[] }) {
  const recent = useRecentSessions();
  const [since] = useState(() => Date.now() - 30 * 86_400_000);
  const minutesByTech = useMemo(() => {
    const totals = new Map<string, number>();
    for (const s of recent.data ?? []) {
      if (new Date(s.startedAt).getTime() < since) continue;
      for (const t of s.technologies) totals.set(t, (totals.get(t) ?? 0) + s.durationMinutes);
    }
    return totals;
  }, [recent.data, since]);
  const top = useMemo(() => names.slice(0, 8), [names]);
  const series = useMemo(() => [{ label: 'Minutes', values: top.map((n) => minutesByTech.get(n) ?? 0) }], [top, minutesByTech]);
  return (
    <>
      <ol className="tech-ranking">
        {top.map((n) => (
          <li key={n}>{n}</li>
        ))}
      </ol>
      {recent.data ? <Chart title="Minutes per technology (last 30 days, up to 100 sessions)" kind="bar" horizontal labels={top} series={series} /> : <div className="chart-placeholder" aria-hidden="true" />}
    </>
  );
}

function SessionsList() {
  const [params, setParams] = useSearchParams();
  const page = pageParam(params.get('page'));
  const sessions = useSessions(page);
  return (
    <section aria-labelledby="sessions-heading" className="dash-section">
      <h2 id="sessions-heading" className="section-title">
        Your sessions
      </h2>
      {sessions.isPending ? (
        <Skeleton lines={5} label="Loading your sessions" />
      ) : sessions.isError ? (
        <LoadError error={sessions.error} retry={() => void sessions.refetch()} what="your sessions" />
      ) : sessions.data.sessions.length === 0 ? (
        <p className="muted empty-sessions">No sessions yet: record one above, or start the timer on any article.</p>
      ) : (
        <>
          <div className="table-wrap">
            <table className="data-table sessions-table">
              <thead>
                <tr>
                  <th scope="col">When</th>
                  <th scope="col">What</th>
                  <th scope="col">Technologies</th>
                  <th scope="col">Minutes</th>
                  <th scope="col">Points</th>
                </tr>
              </thead>
              <tbody>
                {sessions.data.sessions.map((s) => (
                  <tr key={s.id}>
                    <td>{formatDate(s.startedAt)}</td>
                    <td>{s.contentId ? `${s.contentType}: ${s.contentId}` : s.contentType}</td>
                    <td>{s.technologies.join(', ') || '—'}</td>
                    <td>{s.durationMinutes}</td>
                    <td>{s.points}</td>
                  </tr>
                ))}
              </tbody>
            </table>
          </div>
          <Pager page={page} total={sessions.data.sessionsCount} size={SESSIONS_PAGE} onPage={(p) => setParams({ page: String(p) })} />
        </>
      )}
    </section>
  );
}

function NewPathForm() {
  const create = useCreatePath();
  const [title, setTitle] = useState('');
  const [technologies, setTechnologies] = useState('');
  const [milestones, setMilestones] = useState('');
  const [target, setTarget] = useState('');
  return (
    <form
      className="card card-block"
      noValidate
      onSubmit={(e) => {
        e.preventDefault();
        create.mutate(
          {
            title,
            targetTechnologies: splitList(technologies),
            milestones: milestones
              .split('\n')
              .map((m) => m.trim())
              .filter(Boolean)
              .map((m) => ({ title: m, completed: false })),
            targetCompletionDate: target || null,
          },
          {
            onSuccess: () => {
              setTitle('');
              setMilestones('');
              setTechnologies('');
              setTarget('');
            },
          },
        );
      }}
    >
      <h2 className="section-title">New learning path</h2>
      <ErrorMessages error={create.error} />
      <fieldset disabled={create.isPending} className="form-grid">
        <label className="form-grid-wide">
          Title
          <input className="form-control" name="pathTitle" value={title} onChange={(e) => setTitle(e.target.value)} placeholder="Become fluent in async Rust" />
        </label>
        <label>
          Technologies (comma separated)
          <input className="form-control" value={technologies} onChange={(e) => setTechnologies(e.target.value)} placeholder="rust, tokio" />
        </label>
        <label>
          Target date
          <input className="form-control" type="date" value={target} onChange={(e) => setTarget(e.target.value)} />
        </label>
        <label className="form-grid-wide">
          Milestones (one per line)
          <textarea className="form-control" name="milestones" rows={4} value={milestones} onChange={(e) => setMilestones(e.target.value)} />
        </label>
      </fieldset>
      <button type="submit" className="btn btn-primary mt-3" disabled={create.isPending}>
        Create path
      </button>
    </form>
  );
}

function PathCard({ path }: { path: LearningPath }) {
  const toggle = useToggleMilestone();
  return (
    <article className="card card-block learning-path" aria-labelledby={`path-${path.id}`}>
      <div className="section-head">
        <h3 id={`path-${path.id}`} className="font-semibold">
          {path.title}
        </h3>
        <span className={`status-pill ${path.status === 'completed' ? 'done' : ''}`}>{path.status}</span>
      </div>
      <div className="progress" role="progressbar" aria-label={`${path.title} progress`} aria-valuemin={0} aria-valuemax={100} aria-valuenow={Math.round(path.completionPercentage)}>
        <span className="progress-bar" style={{ width: `${path.completionPercentage}%` }} />
      </div>
      <p className="muted text-sm">
        {Math.round(path.completionPercentage)}% done
        {path.targetTechnologies.length > 0 && ` · ${path.targetTechnologies.join(', ')}`}
        {path.targetCompletionDate && ` · by ${formatDate(path.targetCompletionDate)}`}
      </p>
      <ErrorMessages error={toggle.error} />
      <ul className="milestones">
        {path.milestones.map((m, index) => (
          <li key={index}>
            <label>
              <input type="checkbox" checked={m.completed ?? false} onChange={(e) => toggle.toggle({ id: path.id, index, completed: e.target.checked })} /> {m.title}
            </label>
          </li>
        ))}
      </ul>
    </article>
  );
}

function Paths() {
  const paths = usePaths();
  return (
    <>
      <NewPathForm />
      <section aria-label="Your learning paths" className="dash-section">
        {paths.isPending ? (
          <Skeleton lines={4} label="Loading your paths" />
        ) : paths.isError ? (
          <LoadError error={paths.error} retry={() => void paths.refetch()} what="your learning paths" />
        ) : paths.data.length === 0 ? (
          <p className="muted">No learning paths yet: create one with its milestones above.</p>
        ) : (
          paths.data.map((p) => <PathCard key={p.id} path={p} />)
        )}
      </section>
    </>
  );
}

function Assessments() {
  const list = useAssessments();
  const record = useRecordAssessment();
  const [skillArea, setSkillArea] = useState('');
  const [type, setType] = useState<string>('quiz');
  const [score, setScore] = useState('70');
  return (
    <>
      <form
        className="card card-block"
        noValidate
        onSubmit={(e) => {
          e.preventDefault();
          record.mutate({ skillArea, type, score: Number(score) }, { onSuccess: () => setSkillArea('') });
        }}
      >
        <h2 className="section-title">Record an assessment</h2>
        <ErrorMessages error={record.error} />
        <fieldset disabled={record.isPending} className="form-grid">
          <label>
            Skill area
            <input className="form-control" name="skillArea" value={skillArea} onChange={(e) => setSkillArea(e.target.value)} placeholder="rust" />
          </label>
          <label>
            Kind
            <select className="form-control" value={type} onChange={(e) => setType(e.target.value)}>
              {ASSESSMENT_TYPES.map((t) => (
                <option key={t}>{t}</option>
              ))}
            </select>
          </label>
          <label>
            Score (0–100)
            <input className="form-control" name="score" type="number" min={0} max={100} value={score} onChange={(e) => setScore(e.target.value)} />
          </label>
        </fieldset>
        <button type="submit" className="btn btn-primary mt-3" disabled={record.isPending}>
          Record assessment
        </button>
      </form>
      <section aria-label="Your assessments" className="dash-section">
        {list.isPending ? (
          <Skeleton lines={4} label="Loading your assessments" />
        ) : list.isError ? (
          <LoadError error={list.error} retry={() => void list.refetch()} what="your assessments" />
        ) : list.data.length === 0 ? (
          <p className="muted">No assessments yet.</p>
        ) : (
          <div className="table-wrap">
            <table className="data-table">
              <thead>
                <tr>
                  <th scope="col">Taken</th>
                  <th scope="col">Skill area</th>
                  <th scope="col">Kind</th>
                  <th scope="col">Score</th>
                </tr>
              </thead>
              <tbody>
                {list.data.map((a) => (
                  <tr key={a.id}>
                    <td>{formatDate(a.takenAt)}</td>
                    <td>{a.skillArea}</td>
                    <td>{a.type}</td>
                    <td>{a.score}</td>
                  </tr>
                ))}
              </tbody>
            </table>
          </div>
        )}
      </section>
    </>
  );
}

export default function Learning({ tab = 'sessions' }: { tab?: 'sessions' | 'paths' | 'assessments' }) {
  return (
    <Page title="Learning" className="learning-page" intro="What you study, how much, and where you are going.">
      <Tabs />
      {tab === 'sessions' && (
        <>
          <RecordSession />
          <InsightsCharts />
          <SessionsList />
        </>
      )}
      {tab === 'paths' && <Paths />}
      {tab === 'assessments' && <Assessments />}
    </Page>
  );
}

export function LearningPaths() {
  return <Learning tab="paths" />;
}

export function LearningAssessments() {
  return <Learning tab="assessments" />;
}
