import { keepPreviousData, useMutation, useQuery, useQueryClient, type QueryClient } from '@tanstack/react-query';
import { call, client, fetchBody, type Article, type Comment, type Profile } from './client';
import { PAGE_SIZE } from '../lib/format';

export interface ArticlesPage {
  articles: Article[];
  articlesCount: number;
}

/** Which list of articles: the global list (optionally by tag, author or favoriter) or the feed. */
export interface ListFilter {
  feed?: boolean;
  tag?: string;
  author?: string;
  favorited?: string;
  page: number;
}

/** Query keys; the bare ones (`lists`, `articles`, `profiles`) match every key under them. */
export const keys = {
  lists: ['articles'] as const,
  articles: (f: ListFilter) => [...keys.lists, f] as const,
  allArticles: ['article'] as const,
  article: (slug: string) => [...keys.allArticles, slug] as const,
  comments: (slug: string) => ['comments', slug] as const,
  profiles: ['profile'] as const,
  profile: (username: string) => [...keys.profiles, username] as const,
  tags: ['tags'] as const,
};

function readPage(body: { articles?: Article[]; articlesCount?: number }): ArticlesPage {
  if (!Array.isArray(body.articles)) throw new TypeError('articles missing from the answer');
  return { articles: body.articles, articlesCount: body.articlesCount ?? body.articles.length };
}

export function useArticles(filter: ListFilter, enabled = true) {
  const offset = (filter.page - 1) * PAGE_SIZE;
  return useQuery({
    queryKey: keys.articles(filter),
    enabled,
    placeholderData: keepPreviousData,
    queryFn: async ({ signal }) => {
      if (filter.feed) {
        return readPage(await fetchBody(client.GET('/api/articles/feed', { params: { query: { limit: PAGE_SIZE, offset } }, signal })));
      }
      const query: Record<string, string | number> = { limit: PAGE_SIZE, offset };
      if (filter.tag) query.tag = filter.tag;
      if (filter.author) query.author = filter.author;
      if (filter.favorited) query.favorited = filter.favorited;
      return readPage(await fetchBody(client.GET('/api/articles', { params: { query }, signal })));
    },
  });
}

export function useTags() {
  return useQuery({
    queryKey: keys.tags,
    queryFn: async ({ signal }) => {
      const body = await fetchBody(client.GET('/api/tags', { signal }));
      return Array.isArray(body.tags) ? body.tags : [];
    },
    staleTime: 60_000,
  });
}

export function useArticle(slug: string) {
  return useQuery({
    queryKey: keys.article(slug),
    queryFn: async ({ signal }) => (await fetchBody(client.GET('/api/articles/{slug}', { params: { path: { slug } }, signal }))).article,
  });
}

export function useComments(slug: string) {
  return useQuery({
    queryKey: keys.comments(slug),
    queryFn: async ({ signal }): Promise<Comment[]> => {
      const body = await fetchBody(client.GET('/api/articles/{slug}/comments', { params: { path: { slug } }, signal }));
      return Array.isArray(body.comments) ? body.comments : [];
    },
  });
}

export function useProfile(username: string) {
  return useQuery({
    queryKey: keys.profile(username),
    queryFn: async ({ signal }) => (await fetchBody(client.GET('/api/profiles/{username}', { params: { path: { username } }, signal }))).profile,
  });
}

/** Applies `change` to the article `slug` wherever the cache holds it (lists and the article). */
function patchArticle(qc: QueryClient, slug: string, change: (a: Article) => Article) {
  qc.setQueriesData<ArticlesPage>({ queryKey: keys.lists }, (old) =>
    old ? { ...old, articles: old.articles.map((a) => (a.slug === slug ? change(a) : a)) } : old,
  );
  qc.setQueryData<Article>(keys.article(slug), (old) => (old ? change(old) : old));
}

/** Favorite or unfavorite, shown at once and rolled back if the server refuses. */
export function useToggleFavorite() {
  const qc = useQueryClient();
  return useMutation({
    mutationFn: async (article: Article) => {
      const path = { params: { path: { slug: article.slug } } };
      const body = article.favorited
        ? await call(client.DELETE('/api/articles/{slug}/favorite', path))
        : await call(client.POST('/api/articles/{slug}/favorite', path));
      return body?.article;
    },
    onMutate: async (article) => {
      await qc.cancelQueries({ queryKey: keys.article(article.slug) });
      const flip = (a: Article): Article => ({
        ...a,
        favorited: !article.favorited,
        favoritesCount: Math.max(0, a.favoritesCount + (article.favorited ? -1 : 1)),
      });
      patchArticle(qc, article.slug, flip);
    },
    onError: (_error, article) => {
      patchArticle(qc, article.slug, (a) => ({ ...a, favorited: article.favorited, favoritesCount: article.favoritesCount }));
    },
    onSuccess: (fresh, article) => {
      if (fresh?.slug === article.slug) {
        patchArticle(qc, article.slug, (a) => ({ ...a, favorited: fresh.favorited, favoritesCount: fresh.favoritesCount }));
      }
    },
  });
}

/** Follow or unfollow, shown at once and rolled back if the server refuses. */
export function useToggleFollow() {
  const qc = useQueryClient();
  return useMutation({
    mutationFn: async (profile: Profile) => {
      const path = { params: { path: { username: profile.username } } };
      const body = profile.following
        ? await call(client.DELETE('/api/profiles/{username}/follow', path))
        : await call(client.POST('/api/profiles/{username}/follow', path));
      return body?.profile;
    },
    onMutate: (profile) => {
      setFollowing(qc, profile.username, !profile.following);
    },
    onError: (_error, profile) => {
      setFollowing(qc, profile.username, profile.following);
    },
    onSuccess: (fresh, profile) => {
      if (fresh?.username === profile.username) setFollowing(qc, profile.username, fresh.following);
      void qc.invalidateQueries({ queryKey: keys.lists });
    },
  });
}

function setFollowing(qc: QueryClient, username: string, following: boolean) {
  qc.setQueryData<Profile>(keys.profile(username), (old) => (old ? { ...old, following } : old));
  qc.setQueriesData<Article>({ queryKey: keys.allArticles }, (old) =>
    old && old.author.username === username ? { ...old, author: { ...old.author, following } } : old,
  );
}
