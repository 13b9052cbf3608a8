import { useState } from 'react';
import DOMPurify from 'dompurify';
import { Link, useSearchParams } from 'react-router';
import { useTags } from '../api/queries';
import { useSearch, type SearchFilter, type SearchResult } from '../api/techhub';
import { LoadError } from '../components/ErrorMessages';
import { Page, Pager, Skeleton } from '../components/Page';
import { TagList } from '../components/ArticlePreview';
import { formatDate, pageParam, PAGE_SIZE } from '../lib/format';

const DIFFICULTIES = ['beginner', 'intermediate', 'advanced'] as const;

/** The server's highlight: HTML-escaped text with `<mark>`; only `<mark>` survives here. */
export function highlight(html: string): string {
  return DOMPurify.sanitize(html, { ALLOWED_TAGS: ['mark'], ALLOWED_ATTR: [] });
}

/** The filter a `/search?q=…&tag=…&difficulty=…&author=…&page=N` address describes. */
export function readFilter(params: URLSearchParams): SearchFilter {
  return {
    q: params.get('q') ?? '',
    tag: params.get('tag') || undefined,
    difficulty: params.get('difficulty') || undefined,
    author: params.get('author') || undefined,
    page: pageParam(params.get('page')),
  };
}

function Result({ result }: { result: SearchResult }) {
  const a = result.article;
  return (
    <article className="search-result">
      <h2 className="text-lg font-semibold">
        <Link to={`/article/${encodeURIComponent(a.slug)}`} dangerouslySetInnerHTML={{ __html: highlight(result.highlights.title) }} />
      </h2>
      {result.highlights.body && <p className="search-snippet" dangerouslySetInnerHTML={{ __html: highlight(result.highlights.body) }} />}
      <p className="muted text-sm">
        by <Link to={`/profile/${encodeURIComponent(a.author.username)}`}>{a.author.username}</Link> · {formatDate(a.createdAt)}
        {a.difficulty && ` · ${a.difficulty}`} · {a.estimatedReadTime} min read
      </p>
      <TagList tags={a.tagList} />
    </article>
  );
}

export default function SearchPage() {
  const [params, setParams] = useSearchParams();
  const filter = readFilter(params);
  const [text, setText] = useState(filter.q);
  const [author, setAuthor] = useState(filter.author ?? '');
  // The boxes follow the address when it changes from outside (Back, Forward, a link).
  const address = params.toString();
  const [shown, setShown] = useState(address);
  if (shown !== address) {
    setShown(address);
    setText(filter.q);
    setAuthor(filter.author ?? '');
  }
  const tags = useTags();
  const search = useSearch(filter);

  const apply = (change: Partial<SearchFilter>) => {
    const next = { ...filter, page: 1, ...change };
    const out = new URLSearchParams();
    if (next.q) out.set('q', next.q);
    if (next.tag) out.set('tag', next.tag);
    if (next.difficulty) out.set('difficulty', next.difficulty);
    if (next.author) out.set('author', next.author);
    if (next.page > 1) out.set('page', String(next.page));
    setParams(out);
  };

  return (
    <Page title="Search" className="search-page">
      <form
        role="search"
        className="search-form"
        onSubmit={(e) => {
          e.preventDefault();
          apply({ q: text.trim(), author: author.trim() || undefined });
        }}
      >
        <label className="sr-only" htmlFor="search-q">
          Search posts
        </label>
        <input id="search-q" name="q" type="search" className="form-control form-control-lg" placeholder="Search posts and tutorials" value={text} onChange={(e) => setText(e.target.value)} />
        <div className="search-filters">
          <label>
            Tag
            <select className="form-control" value={filter.tag ?? ''} onChange={(e) => apply({ q: text.trim(), tag: e.target.value || undefined })}>
              <option value="">any</option>
              {(tags.data ?? []).map((t) => (
                <option key={t}>{t}</option>
              ))}
            </select>
          </label>
          <label>
            Difficulty
            <select className="form-control" value={filter.difficulty ?? ''} onChange={(e) => apply({ q: text.trim(), difficulty: e.target.value || undefined })}>
              <option value="">any</option>
              {DIFFICULTIES.map((d) => (
                <option key={d}>{d}</option>
              ))}
            </select>
          </label>
          <label>
            Author
            <input className="form-control" name="author" value={author} onChange={(e) => setAuthor(e.target.value)} placeholder="username" />
          </label>
          <button type="submit" className="btn btn-primary self-end">
            Search
          </button>
        </div>
      </form>
      <div className="search-results" aria-live="polite">
        {filter.q === '' ? (
          <p className="muted">Type what you are looking for: titles, bodies and tags are searched, best matches first.</p>
        ) : search.isPending ? (
          <Skeleton lines={6} label="Searching" />
        ) : search.isError ? (
          <LoadError error={search.error} retry={() => void search.refetch()} what="the results" />
        ) : search.data.results.length === 0 ? (
          <p className="muted no-results">Nothing matches “{filter.q}”{filter.tag || filter.difficulty || filter.author ? ' with these filters' : ''}.</p>
        ) : (
          <>
            <p className="muted text-sm results-count">
              {search.data.resultsCount} {search.data.resultsCount === 1 ? 'post matches' : 'posts match'}
            </p>
            {search.data.results.map((r) => (
              <Result key={r.article.slug} result={r} />
            ))}
            <Pager page={filter.page} total={search.data.resultsCount} size={PAGE_SIZE} onPage={(page) => apply({ page })} />
          </>
        )}
      </div>
    </Page>
  );
}
