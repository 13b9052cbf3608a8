import { techhubFields, type Article } from '../api/client';
import { useToggleBookmark } from '../api/techhub';
import { useMemberAction } from '../auth/useMemberAction';

/** Save for later: shown at once, rolled back if the server refuses. */
export function BookmarkButton({ article }: { article: Article }) {
  const toggle = useToggleBookmark();
  const run = useMemberAction(toggle.mutate);
  const bookmarked = techhubFields(article).bookmarked;
  return (
    <button
      type="button"
      className={`btn btn-sm bookmark-button ${bookmarked ? 'btn-secondary' : 'btn-outline-secondary'}`}
      aria-pressed={bookmarked}
      title={toggle.isError ? 'Could not save: try again' : undefined}
      onClick={() => run({ ...article, bookmarked })}
    >
      {bookmarked ? 'Bookmarked' : 'Bookmark'}
    </button>
  );
}
