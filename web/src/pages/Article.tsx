import { useMemo, useState } from 'react';
import DOMPurify from 'dompurify';
import { useMutation, useQueryClient } from '@tanstack/react-query';
import { Link, useLocation, useNavigate, useParams } from 'react-router';
import { call, client, fetchBody, techhubFields, type Article, type Comment } from '../api/client';
import { keys, useArticle, useComments } from '../api/queries';
import { useAuth } from '../auth/auth';
import { ArticleMeta, TagList } from '../components/ArticlePreview';
import { Avatar } from '../components/Avatar';
import { BookmarkButton } from '../components/BookmarkButton';
import { ErrorMessages, LoadError } from '../components/ErrorMessages';
import { FavoriteButton } from '../components/FavoriteButton';
import { FollowButton } from '../components/FollowButton';
import { Icon } from '../components/Icon';
import { StudyTimer } from '../components/StudyTimer';
import { formatDate } from '../lib/format';

/** The article's HTML: the server's sanitised `bodyHtml`, cleaned again here; plain paragraphs without it. */
function ArticleBody({ article }: { article: Article }) {
  const html = useMemo(() => (article.bodyHtml ? DOMPurify.sanitize(article.bodyHtml) : null), [article.bodyHtml]);
  if (html !== null) return <div className="article-body prose" dangerouslySetInnerHTML={{ __html: html }} />;
  const paragraphs = (article.body ?? '').split(/\n{2,}/).filter((p) => p.trim() !== '');
  return (
    <div className="article-body prose">
      {paragraphs.map((p, i) => (
        <p key={i}>{p}</p>
      ))}
    </div>
  );
}

function Actions({ article }: { article: Article }) {
  const auth = useAuth();
  const navigate = useNavigate();
  const qc = useQueryClient();
  const remove = useMutation({
    mutationFn: () => call(client.DELETE('/api/articles/{slug}', { params: { path: { slug: article.slug } } })),
    onSuccess: () => {
      qc.removeQueries({ queryKey: keys.article(article.slug) });
      void qc.invalidateQueries({ queryKey: keys.lists });
      navigate('/');
    },
  });
  const mine = auth.user?.username === article.author.username;
  if (mine) {
    return (
      <span className="article-owner-actions">
        <Link to={`/editor/${encodeURIComponent(article.slug)}`} className="btn btn-sm btn-outline-secondary">
          <Icon name="edit" /> Edit Article
        </Link>{' '}
        <button type="button" className="btn btn-sm btn-outline-danger" onClick={() => remove.mutate()} disabled={remove.isPending}>
          <Icon name="trash-a" /> Delete Article
        </button>
        <ErrorMessages error={remove.error} />
      </span>
    );
  }
  return (
    <span className="article-reader-actions">
      <FollowButton profile={article.author} />
      &nbsp;&nbsp;
      <FavoriteButton article={article} />
    </span>
  );
}

function CommentCard({ slug, comment }: { slug: string; comment: Comment }) {
  const auth = useAuth();
  const qc = useQueryClient();
  const remove = useMutation({
    mutationFn: () => call(client.DELETE('/api/articles/{slug}/comments/{id}', { params: { path: { slug, id: String(comment.id) } } })),
    onSuccess: () => {
      qc.setQueryData<Comment[]>(keys.comments(slug), (old) => old?.filter((c) => c.id !== comment.id));
    },
  });
  const profile = `/profile/${encodeURIComponent(comment.author.username)}`;
  return (
    <div className="card">
      <div className="card-block">
        <p className="card-text">{comment.body}</p>
      </div>
      <div className="card-footer">
        <Link to={profile} className="comment-author" aria-label={comment.author.username}>
          <Avatar image={comment.author.image} className="comment-author-img" size={20} />
        </Link>
        &nbsp;
        <Link to={profile} className="comment-author">
          {comment.author.username}
        </Link>
        <span className="date-posted">{formatDate(comment.createdAt)}</span>
        {auth.user?.username === comment.author.username && (
          <span className="mod-options">
            <button type="button" aria-label="Delete comment" onClick={() => remove.mutate()} disabled={remove.isPending}>
              <Icon name="trash-a" />
            </button>
          </span>
        )}
      </div>
      {remove.error ? <ErrorMessages error={remove.error} /> : null}
    </div>
  );
}

function Comments({ slug }: { slug: string }) {
  const auth = useAuth();
  const location = useLocation();
  const qc = useQueryClient();
  const comments = useComments(slug);
  const [text, setText] = useState('');
  const post = useMutation({
    mutationFn: async () => (await fetchBody(client.POST('/api/articles/{slug}/comments', { params: { path: { slug } }, body: { comment: { body: text } } }))).comment,
    onSuccess: (comment) => {
      setText('');
      qc.setQueryData<Comment[]>(keys.comments(slug), (old) => [comment, ...(old ?? []).filter((c) => c.id !== comment.id)]);
    },
  });
  const next = encodeURIComponent(location.pathname);
  return (
    <div className="row">
      <div className="col-xs-12 col-md-8 offset-md-2">
        <h2 className="sr-only">Comments</h2>
        {auth.state === 'authenticated' && auth.user ? (
          <>
            <ErrorMessages error={post.error} />
            <form
              className="card comment-form"
              onSubmit={(e) => {
                e.preventDefault();
                if (text.trim()) post.mutate();
              }}
            >
              <div className="card-block">
                <label className="sr-only" htmlFor="comment">
                  Comment
                </label>
                <textarea id="comment" className="form-control" placeholder="Write a comment..." rows={3} value={text} onChange={(e) => setText(e.target.value)} disabled={post.isPending} />
              </div>
              <div className="card-footer">
                <Avatar image={auth.user.image} className="comment-author-img" size={20} />
                <button className="btn btn-sm btn-primary" type="submit" disabled={post.isPending}>
                  Post Comment
                </button>
              </div>
            </form>
          </>
        ) : (
          <p className="comment-signin">
            <Link to={`/login?next=${next}`}>Sign in</Link> or <Link to={`/register?next=${next}`}>sign up</Link> to add comments on this article.
          </p>
        )}
        {comments.isPending && <p className="muted">Loading comments...</p>}
        {comments.isError && <LoadError error={comments.error} retry={() => void comments.refetch()} what="comments" />}
        {comments.data?.length === 0 && <p className="muted no-comments">No comments yet.</p>}
        {comments.data?.map((c) => <CommentCard key={String(c.id)} slug={slug} comment={c} />)}
      </div>
    </div>
  );
}

export default function ArticlePage() {
  const { slug = '' } = useParams();
  const auth = useAuth();
  const article = useArticle(slug);
  if (article.isPending || article.isError) {
    return (
      <div className="article-page">
        <div className="container page">
          {article.isPending ? <p className="muted py-8" aria-busy="true">Loading the article...</p> : <LoadError error={article.error} retry={() => void article.refetch()} what="article" />}
        </div>
      </div>
    );
  }
  const a = article.data;
  const facts = techhubFields(a);
  return (
    <div className="article-page">
      <div className="banner">
        <div className="container">
          <h1>{a.title}</h1>
          <ArticleMeta article={a}>
            <Actions article={a} />
          </ArticleMeta>
        </div>
      </div>
      <div className="container page">
        <div className="article-tools">
          <p className="muted text-sm article-facts">
            {facts.status === 'draft' && <span className="status-pill">Draft: only you can see it</span>}
            {facts.readTime !== null && <span>{facts.readTime} min read</span>}
            {facts.difficulty && <span className="capitalize">{facts.difficulty}</span>}
            {facts.categories.length > 0 && <span>{facts.categories.join(', ')}</span>}
          </p>
          <div className="article-tool-buttons">
            <BookmarkButton article={a} />
            {auth.user?.username === a.author.username && (
              <Link className="btn btn-sm btn-outline-secondary" to={`/article/${encodeURIComponent(a.slug)}/analytics`}>
                Analytics
              </Link>
            )}
            <StudyTimer slug={a.slug} />
          </div>
        </div>
        <div className="row article-content">
          <div className="col-md-12">
            <ArticleBody article={a} />
            <TagList tags={a.tagList} />
          </div>
        </div>
        <hr />
        <div className="article-actions">
          <ArticleMeta article={a}>
            <Actions article={a} />
          </ArticleMeta>
        </div>
        <Comments slug={a.slug} />
      </div>
    </div>
  );
}
