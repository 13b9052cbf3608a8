import { Link, useSearchParams } from 'react-router';
import { useBookmarks, useDrafts } from '../api/techhub';
import { ArticleListView } from '../components/ArticleList';
import { Page } from '../components/Page';
import { pageParam } from '../lib/format';

const href = (base: string) => (page: number) => (page > 1 ? `${base}?page=${page}` : base);

/** The caller's unpublished drafts, newest first. */
export function Drafts() {
  const [params] = useSearchParams();
  const page = pageParam(params.get('page'));
  const drafts = useDrafts(page);
  return (
    <Page title="Drafts" className="drafts-page" intro="Posts only you can see until you publish them.">
      <ArticleListView
        query={drafts}
        page={page}
        pageHref={href('/drafts')}
        empty={
          <>
            No drafts. <Link to="/editor">Start one</Link> and choose “Save draft”.
          </>
        }
      />
    </Page>
  );
}

/** The posts the caller bookmarked to read later. */
export function Bookmarks() {
  const [params] = useSearchParams();
  const page = pageParam(params.get('page'));
  const bookmarks = useBookmarks(page);
  return (
    <Page title="Bookmarks" className="bookmarks-page" intro="Posts you saved to read later.">
      <ArticleListView
        query={bookmarks}
        page={page}
        pageHref={href('/bookmarks')}
        empty={
          <>
            No bookmarks yet. Use “Bookmark” on any article to keep it here; <Link to="/">browse the feed</Link>.
          </>
        }
      />
    </Page>
  );
}
