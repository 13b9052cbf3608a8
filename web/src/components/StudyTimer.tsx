import { useEffect, useRef, useState } from 'react';
import { Link } from 'react-router';
import { useRecordSession } from '../api/techhub';
import { useMemberAction } from '../auth/useMemberAction';
import { ErrorMessages } from './ErrorMessages';

const storageKey = (slug: string) => `techhub:studying:${slug}`;

/** Whole minutes to record for a span of `ms` milliseconds: rounded up, at least 1, at most 1440. */
export function sessionMinutes(ms: number): number {
  return Math.min(1440, Math.max(1, Math.ceil(ms / 60_000)));
}

/** "4:05", "1:02:09". */
export function clock(ms: number): string {
  const s = Math.floor(ms / 1000);
  const parts = [Math.floor(s / 3600), Math.floor((s % 3600) / 60), s % 60];
  const [h, m, sec] = parts as [number, number, number];
  return h > 0 ? `${h}:${String(m).padStart(2, '0')}:${String(sec).padStart(2, '0')}` : `${m}:${String(sec).padStart(2, '0')}`;
}

function readStart(slug: string): number | null {
  try {
    const raw = sessionStorage.getItem(storageKey(slug));
    const n = raw === null ? NaN : Number(raw);
    return Number.isFinite(n) ? n : null;
  } catch {
    return null;
  }
}

/**
 * "Studying this post": a timer that, when stopped, records a learning session for the post
 * (its tags become the technologies). The start survives a reload of the page.
 */
export function StudyTimer({ slug }: { slug: string }) {
  const record = useRecordSession();
  const [started, setStarted] = useState<number | null>(() => readStart(slug));
  const [now, setNow] = useState(() => Date.now());
  useEffect(() => {
    if (started === null) return;
    const id = window.setInterval(() => setNow(Date.now()), 1000);
    return () => window.clearInterval(id);
  }, [started]);

  // Start and stop swap buttons: the keyboard focus follows to the one shown.
  const button = useRef<HTMLButtonElement>(null);
  const moved = useRef(false);
  useEffect(() => {
    if (moved.current) button.current?.focus();
  }, [started]);

  const start = useMemberAction(() => {
    moved.current = true;
    const at = Date.now();
    sessionStorage.setItem(storageKey(slug), String(at));
    record.reset();
    setNow(at);
    setStarted(at);
  });
  const stop = () => {
    if (started === null) return;
    const endedAt = Date.now();
    record.mutate(
      { contentType: 'post', contentId: slug, durationMinutes: sessionMinutes(endedAt - started), endedAt: new Date(endedAt).toISOString(), completion: 100 },
      {
        onSuccess: () => {
          sessionStorage.removeItem(storageKey(slug));
          moved.current = true;
          setStarted(null);
        },
      },
    );
  };

  return (
    <div className="study-timer" aria-label="Studying this post" role="group">
      {started === null ? (
        <button type="button" ref={button} className="btn btn-sm btn-outline-primary" onClick={() => start(undefined)}>
          Start studying this post
        </button>
      ) : (
        <>
          <span className="study-clock" aria-live="off">
            Studying: <time>{clock(Math.max(0, now - started))}</time>
          </span>
          <button type="button" ref={button} className="btn btn-sm btn-primary" onClick={stop} disabled={record.isPending}>
            {record.isPending ? 'Recording…' : 'Stop and record'}
          </button>
        </>
      )}
      {record.isSuccess && (
        <span className="success-message" role="status">
          Session recorded: {record.data.durationMinutes} min, {record.data.points} points. <Link to="/dashboard">See your dashboard</Link>
        </span>
      )}
      <ErrorMessages error={record.error} />
    </div>
  );
}
