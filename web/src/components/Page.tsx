import type { ReactNode } from 'react';
import { Link } from 'react-router';

/** A TechHub page: a heading, an optional line under it, and the content. */
export function Page({ title, intro, className = '', actions, children }: { title: string; intro?: ReactNode; className?: string; actions?: ReactNode; children: ReactNode }) {
  return (
    <div className={`techhub-page ${className}`}>
      <div className="container page">
        <header className="page-header">
          <div>
            <h1 className="page-title">{title}</h1>
            {intro && <p className="muted">{intro}</p>}
          </div>
          {actions && <div className="page-actions">{actions}</div>}
        </header>
        {children}
      </div>
    </div>
  );
}

/** One figure with its label; `null` value: the part is unavailable, not zero. */
export function Stat({ label, value, hint, testId }: { label: string; value: ReactNode | null; hint?: string; testId?: string }) {
  return (
    <div className="stat" data-testid={testId}>
      <dt className="stat-label">{label}</dt>
      <dd className="stat-value">{value === null ? <span className="unavailable">Unavailable</span> : value}</dd>
      {hint && <dd className="stat-hint">{hint}</dd>}
    </div>
  );
}

/** Grey bars of the size of what is coming, so nothing moves when it arrives. */
export function Skeleton({ lines = 3, label = 'Loading' }: { lines?: number; label?: string }) {
  return (
    <div className="skeleton" aria-busy="true" role="status">
      <span className="sr-only">{label}…</span>
      {Array.from({ length: lines }, (_, i) => (
        <span key={i} className="skeleton-line" />
      ))}
    </div>
  );
}

/** Nothing here yet, and what to do about it. */
export function Empty({ children, to, action }: { children: ReactNode; to?: string; action?: string }) {
  return (
    <div className="empty-state">
      <p>{children}</p>
      {to && action && (
        <Link to={to} className="btn btn-sm btn-outline-primary mt-2">
          {action}
        </Link>
      )}
    </div>
  );
}

/** Simple previous/next paging for lists that know their total. */
export function Pager({ page, total, size, onPage }: { page: number; total: number; size: number; onPage: (page: number) => void }) {
  const pages = Math.max(1, Math.ceil(total / size));
  if (pages <= 1) return null;
  return (
    <nav className="pager" aria-label="Pages">
      <button type="button" className="btn btn-sm btn-outline-secondary" disabled={page <= 1} onClick={() => onPage(page - 1)}>
        Previous
      </button>
      <span className="muted text-sm">
        Page {page} of {pages}
      </span>
      <button type="button" className="btn btn-sm btn-outline-secondary" disabled={page >= pages} onClick={() => onPage(page + 1)}>
        Next
      </button>
    </nav>
  );
}

/** Placeholders of the charts' own size while their figures load. */
export function ChartsLoading({ count, label }: { count: number; label: string }) {
  return (
    <div className="chart-grid" aria-busy="true" role="status">
      <span className="sr-only">{label}…</span>
      {Array.from({ length: count }, (_, i) => (
        <div key={i} className="chart-placeholder" aria-hidden="true" />
      ))}
    </div>
  );
}
