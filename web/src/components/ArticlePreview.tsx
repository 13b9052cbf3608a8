import { Link } from 'react-router';
import type { Article } from '../api/client';
import { formatDate } from '../lib/format';
import { Avatar } from './Avatar';
import { FavoriteButton } from './FavoriteButton';

export function ArticleMeta({ article, children }: { article: Article; children?: React.ReactNode }) {
  const profile = `/profile/${encodeURIComponent(article.author.username)}`;
  return (
    <div className="article-meta">
      <Link to={profile} aria-label={article.author.username}>
        <Avatar image={article.author.image} size={32} />
      </Link>
      <div className="info">
        <Link to={profile} className="author">
          {article.author.username}
        </Link>
        <span className="date">{formatDate(article.publishedAt ?? article.createdAt)}</span>
      </div>
      {children}
    </div>
  );
}

/** An article's tags as outlined pills (nothing when it has none). */
export function TagList({ tags }: { tags: string[] }) {
  if (tags.length === 0) return null;
  return (
    <ul className="tag-list">
      {tags.map((tag) => (
        <li key={tag} className="tag-default tag-pill tag-outline">
          {tag}
        </li>
      ))}
    </ul>
  );
}

export function ArticlePreview({ article }: { article: Article }) {
  return (
    <div className="article-preview">
      <ArticleMeta article={article}>
        <FavoriteButton article={article} compact />
      </ArticleMeta>
      <Link to={`/article/${encodeURIComponent(article.slug)}`} className="preview-link">
        <h1>{article.title}</h1>
        <p>{article.description}</p>
        <span className="read-more">Read more...</span>
        <TagList tags={article.tagList} />
      </Link>
    </div>
  );
}
