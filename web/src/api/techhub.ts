import { keepPreviousData, useMutation, useQuery, useQueryClient } from '@tanstack/react-query';
import { call, client, fetchBody, type Article } from './client';
import type { components } from './schema';
import { keys as contentKeys, type ArticlesPage } from './queries';
import { PAGE_SIZE } from '../lib/format';

// TechHub's own API beyond the RealWorld contract: dashboard, learning, search, billing,
// analytics, preferences. Types come from docs/openapi.json through schema.d.ts.

type S = components['schemas'];
export type Dashboard = S['DashboardBody'];
export type Session = S['SessionBody'];
export type NewSession = S['NewSessionBody'];
export type LearningPath = S['PathBody'];
export type NewPath = S['NewPathBody'];
export type Assessment = S['AssessmentBody'];
export type NewAssessment = S['NewAssessmentBody'];
export type Insights = S['InsightsResponse'];
export type SearchResult = S['SearchResult'];
export type Subscription = S['SubscriptionBody'];
export type Payment = S['PaymentBody'];
export type Order = S['OrderBody'];
export type PlanOffer = S['PlanOffer'];
export type Card = S['CardBody'];
export type ArticleAnalytics = S['ArticleAnalyticsResponse'];
export type Preferences = S['PreferencesBody'];
export type Theme = 'system' | 'light' | 'dark';

export const techKeys = {
  dashboard: ['dashboard'] as const,
  sessions: (page: number) => ['sessions', page] as const,
  allSessions: ['sessions'] as const,
  paths: ['paths'] as const,
  assessments: ['assessments'] as const,
  insights: (weeks: number) => ['insights', weeks] as const,
  allInsights: ['insights'] as const,
  search: (f: SearchFilter) => ['search', f] as const,
  // Under the article lists' prefix, so favorites, deletions and edits reach them too.
  drafts: (page: number) => ['articles', 'drafts', page] as const,
  allDrafts: ['articles', 'drafts'] as const,
  bookmarks: (page: number) => ['articles', 'bookmarks', page] as const,
  allBookmarks: ['articles', 'bookmarks'] as const,
  analytics: (slug: string, days: number) => ['analytics', slug, days] as const,
  subscription: ['subscription'] as const,
  plans: ['plans'] as const,
  payments: ['payments'] as const,
  orders: ['orders'] as const,
  preferences: ['preferences'] as const,
  admin: (report: string, arg?: string) => ['admin', report, arg ?? ''] as const,
};

/** Everything learning changes: sessions, insights and the dashboard that sums them. */
function learningChanged(qc: ReturnType<typeof useQueryClient>) {
  void qc.invalidateQueries({ queryKey: techKeys.allSessions });
  void qc.invalidateQueries({ queryKey: techKeys.allInsights });
  void qc.invalidateQueries({ queryKey: techKeys.dashboard });
}

export function useDashboard() {
  return useQuery({
    queryKey: techKeys.dashboard,
    queryFn: async ({ signal }) => (await fetchBody(client.GET('/api/dashboard', { signal }))).dashboard,
  });
}

// ---- learning ----

export const SESSIONS_PAGE = 20;

export function useSessions(page: number) {
  return useQuery({
    queryKey: techKeys.sessions(page),
    placeholderData: keepPreviousData,
    queryFn: async ({ signal }) =>
      fetchBody(client.GET('/api/learning/sessions', { params: { query: { limit: SESSIONS_PAGE, offset: (page - 1) * SESSIONS_PAGE } }, signal })),
  });
}

/** Up to 100 of the newest sessions (the most a page holds), for figures over recent weeks. */
export function useRecentSessions() {
  return useQuery({
    queryKey: [...techKeys.allSessions, 'recent'] as const,
    queryFn: async ({ signal }) => (await fetchBody(client.GET('/api/learning/sessions', { params: { query: { limit: 100 } }, signal }))).sessions,
  });
}

export function useRecordSession() {
  const qc = useQueryClient();
  return useMutation({
    mutationFn: async (session: NewSession) => (await fetchBody(client.POST('/api/learning/sessions', { body: { session } }))).session,
    onSuccess: () => learningChanged(qc),
  });
}

export function usePaths() {
  return useQuery({
    queryKey: techKeys.paths,
    queryFn: async ({ signal }) => (await fetchBody(client.GET('/api/learning/paths', { signal }))).paths,
  });
}

export function useCreatePath() {
  const qc = useQueryClient();
  return useMutation({
    mutationFn: async (path: NewPath) => (await fetchBody(client.POST('/api/learning/paths', { body: { path } }))).path,
    onSuccess: (path) => {
      qc.setQueryData<LearningPath[]>(techKeys.paths, (old) => [path, ...(old ?? []).filter((p) => p.id !== path.id)]);
      void qc.invalidateQueries({ queryKey: techKeys.allInsights });
    },
  });
}

/**
 * Ticks a milestone off (or back on). The tick shows at once (in the same event, so the
 * checkbox never flickers back) and is rolled back if the server refuses.
 */
export function useToggleMilestone() {
  const qc = useQueryClient();
  const patch = (id: string, index: number, completed: boolean) =>
    qc.setQueryData<LearningPath[]>(techKeys.paths, (old) =>
      old?.map((p) => (p.id === id ? { ...p, milestones: p.milestones.map((m, i) => (i === index ? { ...m, completed } : m)) } : p)),
    );
  const mutation = useMutation({
    mutationFn: async ({ id, index, completed }: { id: string; index: number; completed: boolean }) =>
      (await fetchBody(client.PUT('/api/learning/paths/{id}/milestones/{index}', { params: { path: { id, index } }, body: { milestone: { completed } } }))).path,
    onError: (_e, { id, index, completed }) => patch(id, index, !completed),
    onSuccess: (path) => {
      qc.setQueryData<LearningPath[]>(techKeys.paths, (old) => old?.map((p) => (p.id === path.id ? path : p)));
      void qc.invalidateQueries({ queryKey: techKeys.allInsights });
    },
  });
  const toggle = (change: { id: string; index: number; completed: boolean }) => {
    patch(change.id, change.index, change.completed);
    mutation.mutate(change);
  };
  return { toggle, error: mutation.error };
}

export function useAssessments() {
  return useQuery({
    queryKey: techKeys.assessments,
    queryFn: async ({ signal }) => (await fetchBody(client.GET('/api/assessments', { signal }))).assessments,
  });
}

export function useRecordAssessment() {
  const qc = useQueryClient();
  return useMutation({
    mutationFn: async (assessment: NewAssessment) => (await fetchBody(client.POST('/api/assessments', { body: { assessment } }))).assessment,
    onSuccess: (a) => {
      qc.setQueryData<Assessment[]>(techKeys.assessments, (old) => [a, ...(old ?? []).filter((x) => x.id !== a.id)]);
      void qc.invalidateQueries({ queryKey: techKeys.allInsights });
    },
  });
}

export function useInsights(weeks: number) {
  return useQuery({
    queryKey: techKeys.insights(weeks),
    placeholderData: keepPreviousData,
    queryFn: async ({ signal }) => fetchBody(client.GET('/api/analytics/insights', { params: { query: { weeks } }, signal })),
  });
}

// ---- search ----

export interface SearchFilter {
  q: string;
  tag?: string;
  difficulty?: string;
  author?: string;
  page: number;
}

export function useSearch(filter: SearchFilter) {
  return useQuery({
    queryKey: techKeys.search(filter),
    enabled: filter.q.trim() !== '',
    placeholderData: keepPreviousData,
    queryFn: async ({ signal }) => {
      const query: { q: string; limit: number; offset: number; tag?: string; difficulty?: string; author?: string } = {
        q: filter.q,
        limit: PAGE_SIZE,
        offset: (filter.page - 1) * PAGE_SIZE,
      };
      if (filter.tag) query.tag = filter.tag;
      if (filter.difficulty) query.difficulty = filter.difficulty;
      if (filter.author) query.author = filter.author;
      return fetchBody(client.GET('/api/search', { params: { query }, signal }));
    },
  });
}

// ---- writing ----

function page(body: { articles: Article[]; articlesCount: number }): ArticlesPage {
  return { articles: body.articles, articlesCount: body.articlesCount };
}

export function useDrafts(pageNo: number) {
  return useQuery({
    queryKey: techKeys.drafts(pageNo),
    placeholderData: keepPreviousData,
    queryFn: async ({ signal }) =>
      page(await fetchBody(client.GET('/api/user/drafts', { params: { query: { limit: PAGE_SIZE, offset: (pageNo - 1) * PAGE_SIZE } }, signal }))),
  });
}

export function useBookmarks(pageNo: number) {
  return useQuery({
    queryKey: techKeys.bookmarks(pageNo),
    placeholderData: keepPreviousData,
    queryFn: async ({ signal }) =>
      page(await fetchBody(client.GET('/api/user/bookmarks', { params: { query: { limit: PAGE_SIZE, offset: (pageNo - 1) * PAGE_SIZE } }, signal }))),
  });
}

/** Bookmark or remove the bookmark, shown at once and rolled back if the server refuses. */
export function useToggleBookmark() {
  const qc = useQueryClient();
  const set = (slug: string, bookmarked: boolean) => {
    qc.setQueryData<Article>(contentKeys.article(slug), (old) => (old ? { ...old, bookmarked } : old));
    qc.setQueriesData<ArticlesPage>({ queryKey: contentKeys.lists }, (old) =>
      old ? { ...old, articles: old.articles.map((a) => (a.slug === slug ? { ...a, bookmarked } : a)) } : old,
    );
  };
  return useMutation({
    mutationFn: async (article: Article) => {
      const path = { params: { path: { slug: article.slug } } };
      const body = article.bookmarked ? await call(client.DELETE('/api/articles/{slug}/bookmark', path)) : await call(client.POST('/api/articles/{slug}/bookmark', path));
      return body?.article;
    },
    onMutate: async (article) => {
      await qc.cancelQueries({ queryKey: contentKeys.article(article.slug) });
      set(article.slug, !article.bookmarked);
    },
    onError: (_e, article) => set(article.slug, article.bookmarked),
    onSuccess: (fresh, article) => {
      if (fresh?.slug === article.slug) set(article.slug, fresh.bookmarked);
      void qc.invalidateQueries({ queryKey: techKeys.allBookmarks });
      void qc.invalidateQueries({ queryKey: techKeys.dashboard });
    },
  });
}

export function useArticleAnalytics(slug: string, days: number) {
  return useQuery({
    queryKey: techKeys.analytics(slug, days),
    placeholderData: keepPreviousData,
    queryFn: async ({ signal }) => fetchBody(client.GET('/api/analytics/articles/{slug}', { params: { path: { slug }, query: { days } }, signal })),
  });
}

// ---- billing ----

export function useSubscription() {
  return useQuery({
    queryKey: techKeys.subscription,
    queryFn: async ({ signal }) => (await fetchBody(client.GET('/api/subscription', { signal }))).subscription,
  });
}

export function usePlans() {
  return useQuery({
    queryKey: techKeys.plans,
    staleTime: 10 * 60_000,
    queryFn: async ({ signal }) => (await fetchBody(client.GET('/api/plans', { signal }))).plans,
  });
}

export function usePayments() {
  return useQuery({
    queryKey: techKeys.payments,
    queryFn: async ({ signal }) => (await fetchBody(client.GET('/api/payments', { params: { query: { limit: 20 } }, signal }))).payments,
  });
}

export function useOrders() {
  return useQuery({
    queryKey: techKeys.orders,
    queryFn: async ({ signal }) => (await fetchBody(client.GET('/api/orders', { params: { query: { limit: 20 } }, signal }))).orders,
  });
}

function billingChanged(qc: ReturnType<typeof useQueryClient>) {
  void qc.invalidateQueries({ queryKey: techKeys.subscription });
  void qc.invalidateQueries({ queryKey: techKeys.payments });
  void qc.invalidateQueries({ queryKey: techKeys.orders });
  void qc.invalidateQueries({ queryKey: techKeys.dashboard });
}

export function useChangePlan() {
  const qc = useQueryClient();
  return useMutation({
    mutationFn: async (change: { plan: string; billingCycle: string; card?: Card }) =>
      fetchBody(client.PUT('/api/subscription', { body: { subscription: change } })),
    onSuccess: (answer) => qc.setQueryData(techKeys.subscription, answer.subscription),
    // A declined card leaves a failed payment in the history: refresh it either way.
    onSettled: () => billingChanged(qc),
  });
}

export function useCancelPlan() {
  const qc = useQueryClient();
  return useMutation({
    mutationFn: async () => (await fetchBody(client.DELETE('/api/subscription'))).subscription,
    onSuccess: (subscription) => qc.setQueryData(techKeys.subscription, subscription),
    onSettled: () => billingChanged(qc),
  });
}

// ---- preferences ----

export function usePreferences(enabled: boolean) {
  return useQuery({
    queryKey: techKeys.preferences,
    enabled,
    staleTime: 5 * 60_000,
    queryFn: async ({ signal }) => (await fetchBody(client.GET('/api/user/preferences', { signal }))).preferences,
  });
}

export function useSavePreferences() {
  const qc = useQueryClient();
  return useMutation({
    // One at a time, in order: the last click is what the profile keeps.
    scope: { id: 'preferences' },
    mutationFn: async (change: { theme?: Theme }) => (await fetchBody(client.PUT('/api/user/preferences', { body: { preferences: change } }))).preferences,
    onSuccess: (prefs) => qc.setQueryData(techKeys.preferences, prefs),
  });
}

// ---- admin ----

export function useActiveUsers(period: string) {
  return useQuery({
    queryKey: techKeys.admin('active-users', period),
    queryFn: async ({ signal }) => fetchBody(client.GET('/api/admin/reports/active-users', { params: { query: { period, count: period === 'day' ? 30 : 12 } }, signal })),
  });
}

export function useTopTechnologies() {
  return useQuery({
    queryKey: techKeys.admin('top-technologies'),
    queryFn: async ({ signal }) => fetchBody(client.GET('/api/admin/reports/top-technologies', { signal })),
  });
}

export function useEngagementReport() {
  return useQuery({
    queryKey: techKeys.admin('engagement'),
    queryFn: async ({ signal }) => fetchBody(client.GET('/api/admin/reports/engagement', { signal })),
  });
}
