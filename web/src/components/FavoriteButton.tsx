import type { Article } from '../api/client';
import { useToggleFavorite } from '../api/queries';
import { useMemberAction } from '../auth/useMemberAction';
import { Icon } from './Icon';

/**
 * The heart. `compact`: the count only (article lists); otherwise "Favorite Article (n)".
 * Outline when not favorited, filled when favorited (the e2e contract's classes).
 */
export function FavoriteButton({ article, compact = false }: { article: Article; compact?: boolean }) {
  const toggle = useToggleFavorite();
  const run = useMemberAction(toggle.mutate);
  const onClick = () => run(article);
  const classes = `btn btn-sm ${article.favorited ? 'btn-primary' : 'btn-outline-primary'} ${compact ? 'pull-xs-right' : ''}`;
  const failed = toggle.isError ? 'Could not save: try again' : undefined;
  if (compact) {
    return (
      <button type="button" className={classes} onClick={onClick} aria-pressed={article.favorited} title={failed}>
        <Icon name="heart" /> {article.favoritesCount}
        <span className="sr-only"> {article.favorited ? 'favorited' : 'favorites'}: {article.title}</span>
      </button>
    );
  }
  return (
    <button type="button" className={classes} onClick={onClick} aria-pressed={article.favorited} title={failed}>
      <Icon name="heart" />
      &nbsp; {article.favorited ? 'Unfavorite' : 'Favorite'} Article <span className="counter">({article.favoritesCount})</span>
    </button>
  );
}
