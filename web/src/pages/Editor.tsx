import { useState } from 'react';
import { useMutation, useQueryClient } from '@tanstack/react-query';
import { useNavigate, useParams } from 'react-router';
import { client, fetchBody, type Article } from '../api/client';
import { keys, useArticle } from '../api/queries';
import { ErrorMessages, LoadError } from '../components/ErrorMessages';
import { Field } from '../components/Field';
import { Icon } from '../components/Icon';

interface Draft {
  title: string;
  description: string;
  body: string;
  tagList: string[];
}

function EditorForm({ initial, article }: { initial: Draft; article?: Article }) {
  const navigate = useNavigate();
  const qc = useQueryClient();
  const [draft, setDraft] = useState<Draft>(initial);
  const [tagInput, setTagInput] = useState('');

  const publish = useMutation({
    mutationFn: async () => {
      const tagList = pendingTags(draft.tagList, tagInput);
      if (article) {
        const body = { ...draft, tagList, ...(typeof article.version === 'number' ? { version: article.version } : {}) };
        return (await fetchBody(client.PUT('/api/articles/{slug}', { params: { path: { slug: article.slug } }, body: { article: body } }))).article;
      }
      return (await fetchBody(client.POST('/api/articles', { body: { article: { ...draft, tagList } } }))).article;
    },
    onSuccess: (saved) => {
      qc.setQueryData(keys.article(saved.slug), saved);
      void qc.invalidateQueries({ queryKey: keys.lists });
      void qc.invalidateQueries({ queryKey: keys.tags });
      navigate(`/article/${encodeURIComponent(saved.slug)}`);
    },
  });

  const addTag = () => {
    const tags = pendingTags(draft.tagList, tagInput);
    setDraft({ ...draft, tagList: tags });
    setTagInput('');
  };

  return (
    <>
      <ErrorMessages error={publish.error} />
      <form
        noValidate
        onSubmit={(e) => {
          e.preventDefault();
          publish.mutate();
        }}
      >
        <fieldset disabled={publish.isPending}>
          <Field id="title" label="Title" hiddenLabel className="form-control form-control-lg" type="text" placeholder="Article Title" value={draft.title} onChange={(title) => setDraft({ ...draft, title })} />
          <Field id="description" label="Description" hiddenLabel type="text" placeholder="What's this article about?" value={draft.description} onChange={(description) => setDraft({ ...draft, description })} />
          <Field id="body" label="Body (Markdown)" hiddenLabel rows={10} placeholder="Write your article (in markdown)" value={draft.body} onChange={(body) => setDraft({ ...draft, body })} />
          <fieldset className="form-group">
            <label className="sr-only" htmlFor="tags">
              Tags
            </label>
            <input
              id="tags"
              type="text"
              className="form-control"
              placeholder="Enter tags"
              value={tagInput}
              onChange={(e) => setTagInput(e.target.value)}
              onKeyDown={(e) => {
                if (e.key === 'Enter' || e.key === ',') {
                  e.preventDefault();
                  addTag();
                }
              }}
              onBlur={addTag}
            />
            <div className="tag-list">
              {draft.tagList.map((tag) => (
                <span key={tag} className="tag-default tag-pill">
                  <button type="button" className="tag-remove" aria-label={`Remove tag ${tag}`} onClick={() => setDraft({ ...draft, tagList: draft.tagList.filter((t) => t !== tag) })}>
                    <Icon name="close-round" />
                  </button>{' '}
                  {tag}
                </span>
              ))}
            </div>
          </fieldset>
          <button className="btn btn-lg pull-xs-right btn-primary" type="submit">
            {publish.isPending ? 'Publishing...' : 'Publish Article'}
          </button>
        </fieldset>
      </form>
    </>
  );
}

/** The tags with what is typed in the tag box added (trimmed, no duplicates). */
export function pendingTags(tags: string[], typed: string): string[] {
  const out = [...tags];
  for (const t of typed.split(',')) {
    const tag = t.trim();
    if (tag && !out.includes(tag)) out.push(tag);
  }
  return out;
}

function EditExisting({ slug }: { slug: string }) {
  const article = useArticle(slug);
  if (article.isPending) return <p className="muted">Loading the article...</p>;
  if (article.isError) return <LoadError error={article.error} retry={() => void article.refetch()} what="article" />;
  const a = article.data;
  return <EditorForm key={a.slug} article={a} initial={{ title: a.title, description: a.description, body: a.body ?? '', tagList: a.tagList }} />;
}

export default function Editor() {
  const { slug } = useParams();
  return (
    <div className="editor-page">
      <div className="container page">
        <div className="row">
          <div className="col-md-10 offset-md-1 col-xs-12">
            <h1 className="sr-only">{slug ? 'Edit article' : 'New article'}</h1>
            {slug ? <EditExisting slug={slug} /> : <EditorForm initial={{ title: '', description: '', body: '', tagList: [] }} />}
          </div>
        </div>
      </div>
    </div>
  );
}
