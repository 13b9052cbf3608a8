import type { UseQueryResult } from '@tanstack/react-query';
import { Link } from 'react-router';
import { useArticles, type ArticlesPage, type ListFilter } from '../api/queries';
import { PAGE_SIZE } from '../lib/format';
import { ArticlePreview } from './ArticlePreview';
import { LoadError } from './ErrorMessages';

/**
 * A page of articles with its pagination. `pageHref(n)` gives the address of page n, so the
 * page lives in the URL (`?page=N`) and reloads and links keep it.
 */
export function ArticleList({
  filter,
  pageHref,
  empty,
}: {
  filter: ListFilter;
  pageHref: (page: number) => string;
  empty?: React.ReactNode;
}) {
  const query = useArticles(filter);
  return <ArticleListView query={query} page={filter.page} pageHref={pageHref} empty={empty} />;
}

/** A page of articles from any list query (feeds, drafts, bookmarks), with its states. */
export function ArticleListView({
  query,
  page,
  pageHref,
  empty,
}: {
  query: UseQueryResult<ArticlesPage>;
  page: number;
  pageHref: (page: number) => string;
  empty?: React.ReactNode;
}) {
  if (query.isPending) {
    // Placeholders about as tall as the articles they stand for, so nothing below moves when
    // the list arrives.
    return (
      <div aria-busy="true">
        <p className="sr-only">Loading articles...</p>
        {[0, 1, 2, 3, 4].map((i) => (
          <div key={i} className="article-skeleton" aria-hidden="true">
            <span className="skeleton-line w-1/3" />
            <span className="skeleton-line h-6 w-3/4" />
            <span className="skeleton-line w-2/3" />
            <span className="skeleton-line w-1/5" />
          </div>
        ))}
      </div>
    );
  }
  if (query.isError) {
    return <LoadError error={query.error} retry={() => void query.refetch()} what="articles" />;
  }
  const { articles, articlesCount } = query.data;
  if (articles.length === 0) {
    return <div className="empty-feed-message article-preview">{empty ?? 'No articles here yet.'}</div>;
  }
  const pages = Math.ceil(articlesCount / PAGE_SIZE);
  return (
    <div aria-busy={query.isFetching}>
      {articles.map((article) => (
        <ArticlePreview key={article.slug} article={article} />
      ))}
      {pages > 1 && <Pagination pages={pages} current={page} href={pageHref} />}
    </div>
  );
}

/** Page links: all of them up to 9 pages, else the first, the last and those around the current. */
export function Pagination({ pages, current, href }: { pages: number; current: number; href: (page: number) => string }) {
  const shown: number[] = [];
  for (let p = 1; p <= pages; p++) {
    if (pages <= 9 || p === 1 || p === pages || Math.abs(p - current) <= 2) shown.push(p);
  }
  return (
    <nav aria-label="Pages">
      <ul className="pagination">
        {shown.map((p, i) => (
          <li key={p} className={`page-item${p === current ? ' active' : ''}`}>
            {i > 0 && p - (shown[i - 1] ?? p) > 1 && <span className="page-gap" aria-hidden="true">…</span>}
            <Link className="page-link" to={href(p)} aria-current={p === current ? 'page' : undefined}>
              {p}
            </Link>
          </li>
        ))}
      </ul>
    </nav>
  );
}
