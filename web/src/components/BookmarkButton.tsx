import type { Article } from '../api/client';
import { useToggleBookmark } from '../api/techhub';
import { useMemberAction } from '../auth/useMemberAction';

/** Save for later: shown at once, rolled back if the server refuses. */
export function BookmarkButton({ article }: { article: Article }) {
  const toggle = useToggleBookmark();
  const run = useMemberAction(toggle.mutate);
  return (
    <button
      type="button"
      className={`btn btn-sm bookmark-button ${article.bookmarked ? 'btn-secondary' : 'btn-outline-secondary'}`}
      aria-pressed={article.bookmarked}
      title={toggle.isError ? 'Could not save: try again' : undefined}
      onClick={() => run(article)}
    >
      {article.bookmarked ? 'Bookmarked' : 'Bookmark'}
    </button>
  );
}
