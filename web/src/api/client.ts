import createClient from 'openapi-fetch';
import type { components, paths } from './schema';
import { ApiError } from './errors';

export type Article = components['schemas']['ArticleBody'];
export type Profile = components['schemas']['ProfileBody'];
export type User = components['schemas']['UserBody'];
export type Comment = components['schemas']['CommentBody'];
export type NewArticle = components['schemas']['NewArticleBody'];
export type UpdateArticle = components['schemas']['UpdateArticleBody'];
export type UpdateUser = components['schemas']['UpdateUserBody'];

/**
 * Where the API lives. Empty: the same origin that served the app (`techhub serve` serves
 * both). A build for another backend sets `VITE_API_ORIGIN`, e.g. `https://api.example.com`;
 * paths keep their `/api` prefix.
 */
export const API_ORIGIN: string = import.meta.env.VITE_API_ORIGIN ?? '';

export const TOKEN_KEY = 'jwtToken';

export function storedToken(): string | null {
  try {
    return localStorage.getItem(TOKEN_KEY);
  } catch {
    return null;
  }
}

export function storeToken(token: string | null): void {
  if (token === null) localStorage.removeItem(TOKEN_KEY);
  else localStorage.setItem(TOKEN_KEY, token);
}

/** The typed client: paths, parameters and bodies come from docs/openapi.json. */
export const client = createClient<paths>({ baseUrl: API_ORIGIN || window.location.origin });

client.use({
  onRequest({ request }) {
    const token = storedToken();
    if (token) request.headers.set('Authorization', `Token ${token}`);
    return request;
  },
});

interface Outcome<T> {
  data?: T;
  error?: unknown;
  response: Response;
}

/**
 * Awaits one call and turns every failure into an ApiError: no answer (network), an answer
 * that is not JSON, a non-2xx status. Any 2xx is success, whatever its body.
 */
export async function call<T>(pending: Promise<Outcome<T>>): Promise<T | undefined> {
  let outcome: Outcome<T>;
  try {
    outcome = await pending;
  } catch (e) {
    if (e instanceof SyntaxError) throw ApiError.unreadable(200);
    throw ApiError.network();
  }
  const { response } = outcome;
  if (response.ok) return outcome.data;
  throw ApiError.fromResponse(response.status, outcome.error, response.headers.get('Retry-After'));
}

/** Like [`call`], for answers that must carry a body. */
export async function fetchBody<T>(pending: Promise<Outcome<T>>): Promise<T> {
  const data = await call(pending);
  if (data === undefined || data === null) throw ApiError.unreadable(204);
  return data;
}

/**
 * TechHub's article fields, read defensively: a RealWorld backend (or a test's mocked answer)
 * sends articles without them, and the pages must still show the article.
 */
export function techhubFields(a: Article): { categories: string[]; readTime: number | null; status: string; difficulty: string | null; bookmarked: boolean } {
  const raw = a as Partial<Article>;
  return {
    categories: Array.isArray(raw.categories) ? raw.categories : [],
    readTime: typeof raw.estimatedReadTime === 'number' ? raw.estimatedReadTime : null,
    status: typeof raw.status === 'string' ? raw.status : 'published',
    difficulty: typeof raw.difficulty === 'string' ? raw.difficulty : null,
    bookmarked: raw.bookmarked === true,
  };
}
