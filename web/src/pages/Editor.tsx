import { useDeferredValue, useMemo, useState } from 'react';
import DOMPurify from 'dompurify';
import { marked } from 'marked';
import { useMutation, useQueryClient } from '@tanstack/react-query';
import { useNavigate, useParams } from 'react-router';
import { client, fetchBody, techhubFields, type Article } from '../api/client';
import { asApiError } from '../api/errors';
import { keys, useArticle } from '../api/queries';
import { techKeys } from '../api/techhub';
import { ErrorMessages, LoadError, useRevealed } from '../components/ErrorMessages';
import { Field } from '../components/Field';
import { Icon } from '../components/Icon';

interface Draft {
  title: string;
  description: string;
  body: string;
  tagList: string[];
  categories: string;
  difficulty: string;
}

type Status = 'published' | 'draft';

const DIFFICULTIES = ['beginner', 'intermediate', 'advanced'] as const;

/** Minutes to read a Markdown body at 200 words a minute (at least 1), as the server estimates. */
export function readingMinutes(body: string): number {
  const words = body.split(/\s+/).filter(Boolean).length;
  return Math.max(1, Math.round(words / 200));
}

/** The Markdown as sanitised HTML, for the live preview (the server renders the real one). */
export function previewHtml(markdown: string): string {
  return DOMPurify.sanitize(marked.parse(markdown, { async: false, gfm: true }));
}

function draftOf(a: Article): Draft {
  const facts = techhubFields(a);
  return {
    title: a.title,
    description: a.description,
    body: a.body ?? '',
    tagList: a.tagList,
    categories: facts.categories.join(', '),
    difficulty: facts.difficulty ?? '',
  };
}

function Preview({ body }: { body: string }) {
  const deferred = useDeferredValue(body);
  const html = useMemo(() => previewHtml(deferred), [deferred]);
  return (
    <section className="editor-preview" aria-label="Preview">
      <p className="preview-label">Preview</p>
      {deferred.trim() === '' ? <p className="muted">The preview of your Markdown shows here as you type.</p> : <div className="prose" dangerouslySetInnerHTML={{ __html: html }} />}
    </section>
  );
}

/** Someone saved the article since it was opened here: take theirs, or save ours over it. */
function Conflict({ latest, onReload, onReapply }: { latest: Article; onReload: () => void; onReapply: () => void }) {
  const panel = useRevealed<HTMLDivElement>(latest);
  return (
    <div className="conflict-panel" role="alert" ref={panel}>
      <p className="font-semibold">This article was changed after you opened it (now version {latest.version}, saved {new Date(latest.updatedAt).toLocaleString('en-US')}).</p>
      <p className="text-sm">Your edits are still here. Reload the latest version and lose them, or save yours over it.</p>
      <div className="mt-2 flex flex-wrap gap-2">
        <button type="button" className="btn btn-sm btn-outline-secondary" onClick={onReload}>
          Reload the latest version
        </button>
        <button type="button" className="btn btn-sm btn-primary" onClick={onReapply}>
          Reapply my changes and save
        </button>
      </div>
    </div>
  );
}

function EditorForm({ initial, article }: { initial: Draft; article?: Article }) {
  const navigate = useNavigate();
  const qc = useQueryClient();
  const [draft, setDraft] = useState<Draft>(initial);
  const [tagInput, setTagInput] = useState('');
  const [version, setVersion] = useState<number | undefined>(article?.version);
  const [latest, setLatest] = useState<Article | null>(null);

  const save = useMutation({
    mutationFn: async ({ status, baseVersion }: { status: Status; baseVersion?: number }) => {
      const tagList = pendingTags(draft.tagList, tagInput);
      const fields = {
        title: draft.title,
        description: draft.description,
        body: draft.body,
        tagList,
        categories: pendingTags([], draft.categories),
        difficulty: draft.difficulty || null,
        status,
      };
      if (article) {
        const body = { ...fields, ...(typeof baseVersion === 'number' ? { version: baseVersion } : {}) };
        return (await fetchBody(client.PUT('/api/articles/{slug}', { params: { path: { slug: article.slug } }, body: { article: body } }))).article;
      }
      return (await fetchBody(client.POST('/api/articles', { body: { article: fields } }))).article;
    },
    onSuccess: (saved) => {
      qc.setQueryData(keys.article(saved.slug), saved);
      void qc.invalidateQueries({ queryKey: keys.lists });
      void qc.invalidateQueries({ queryKey: keys.tags });
      void qc.invalidateQueries({ queryKey: techKeys.allDrafts });
      void qc.invalidateQueries({ queryKey: techKeys.dashboard });
      navigate(`/article/${encodeURIComponent(saved.slug)}`);
    },
    onError: async (error) => {
      if (article && asApiError(error).status === 409) {
        const fresh = (await fetchBody(client.GET('/api/articles/{slug}', { params: { path: { slug: article.slug } } }))).article;
        setLatest(fresh);
      }
    },
  });

  const submit = (status: Status, baseVersion = version) => {
    setLatest(null);
    save.mutate({ status, baseVersion });
  };

  const addTag = () => {
    const tags = pendingTags(draft.tagList, tagInput);
    setDraft({ ...draft, tagList: tags });
    setTagInput('');
  };

  const isDraft = article ? techhubFields(article).status === 'draft' : false;
  const conflict = latest !== null && asApiError(save.error).status === 409;

  return (
    <>
      {conflict ? (
        <Conflict
          latest={latest}
          onReload={() => {
            setDraft(draftOf(latest));
            setVersion(latest.version);
            setLatest(null);
            save.reset();
          }}
          onReapply={() => {
            setVersion(latest.version);
            submit(isDraft ? 'draft' : 'published', latest.version);
          }}
        />
      ) : (
        <ErrorMessages error={save.error} />
      )}
      <form
        noValidate
        onSubmit={(e) => {
          e.preventDefault();
          submit('published');
        }}
      >
        <fieldset disabled={save.isPending}>
          <Field id="title" label="Title" hiddenLabel className="form-control form-control-lg" type="text" placeholder="Article Title" value={draft.title} onChange={(title) => setDraft({ ...draft, title })} />
          <Field id="description" label="Description" hiddenLabel type="text" placeholder="What's this article about?" value={draft.description} onChange={(description) => setDraft({ ...draft, description })} />
          <div className="editor-split">
            <Field id="body" label="Body (Markdown)" hiddenLabel rows={14} placeholder="Write your article (in markdown)" value={draft.body} onChange={(body) => setDraft({ ...draft, body })} />
            <Preview body={draft.body} />
          </div>
          <p className="muted text-sm reading-time" aria-live="polite">
            About {readingMinutes(draft.body)} min read
          </p>
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
          <div className="form-grid">
            <label>
              Categories (comma separated)
              <input className="form-control" name="categories" value={draft.categories} onChange={(e) => setDraft({ ...draft, categories: e.target.value })} placeholder="backend, databases" />
            </label>
            <label>
              Difficulty
              <select className="form-control" name="difficulty" value={draft.difficulty} onChange={(e) => setDraft({ ...draft, difficulty: e.target.value })}>
                <option value="">not set</option>
                {DIFFICULTIES.map((d) => (
                  <option key={d}>{d}</option>
                ))}
              </select>
            </label>
          </div>
          <div className="editor-buttons">
            <button className="btn btn-lg btn-outline-secondary" type="button" onClick={() => submit('draft')}>
              {article && !isDraft ? 'Move to drafts' : 'Save Draft'}
            </button>
            <button className="btn btn-lg pull-xs-right btn-primary" type="submit">
              {save.isPending ? 'Publishing...' : 'Publish Article'}
            </button>
          </div>
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
  return <EditorForm key={a.slug} article={a} initial={draftOf(a)} />;
}

export default function Editor() {
  const { slug } = useParams();
  return (
    <div className="editor-page">
      <div className="container page">
        <div className="row">
          <div className="col-md-10 offset-md-1 col-xs-12">
            <h1 className="sr-only">{slug ? 'Edit article' : 'New article'}</h1>
            {slug ? <EditExisting slug={slug} /> : <EditorForm initial={{ title: '', description: '', body: '', tagList: [], categories: '', difficulty: '' }} />}
          </div>
        </div>
      </div>
    </div>
  );
}
