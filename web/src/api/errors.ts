/** What went wrong with an API call, in the words the page shows. */
export class ApiError extends Error {
  /** HTTP status; 0 when the server could not be reached or its answer could not be read. */
  readonly status: number;
  /** Field → reasons, as the API's `{"errors": {...}}` body gives them. */
  readonly errors: Record<string, string[]>;
  /** Seconds to wait before retrying (429 and 503 with `Retry-After`). */
  readonly retryAfter: number | null;

  constructor(status: number, errors: Record<string, string[]>, retryAfter: number | null = null) {
    super(flatten(errors).join('; ') || `request failed (${status})`);
    this.name = 'ApiError';
    this.status = status;
    this.errors = errors;
    this.retryAfter = retryAfter;
  }

  /** The server was not reached (offline, refused, timed out). */
  static network(): ApiError {
    return new ApiError(0, { connection: [NETWORK_MESSAGE] });
  }

  /** The server answered with something that is not the JSON the API promises. */
  static unreadable(status: number): ApiError {
    return new ApiError(status, { response: ['could not be read; try again in a moment'] });
  }

  /** Builds the error from a non-2xx answer and its body (any shape). */
  static fromResponse(status: number, body: unknown, retryAfter: string | null): ApiError {
    const seconds = retryAfter !== null && /^\d+$/.test(retryAfter) ? Number(retryAfter) : null;
    const errors = readErrors(body);
    if (Object.keys(errors).length > 0) return new ApiError(status, errors, seconds);
    return new ApiError(status, { [status >= 500 ? 'server' : 'request']: [fallbackReason(status)] }, seconds);
  }

  get isAuth(): boolean {
    return this.status === 401;
  }

  /** Lines to list in `.error-messages`: "email has already been taken". */
  get messages(): string[] {
    if (this.status === 429) {
      const wait = this.retryAfter !== null ? ` in ${this.retryAfter} s` : ' in a moment';
      return [`Too many requests: try again${wait}.`];
    }
    return flatten(this.errors);
  }
}

export const NETWORK_MESSAGE = 'Unable to connect to the server. Check your connection and try again.';

function readErrors(body: unknown): Record<string, string[]> {
  if (typeof body !== 'object' || body === null || !('errors' in body)) return {};
  const errors = (body as { errors: unknown }).errors;
  if (typeof errors !== 'object' || errors === null) return {};
  const out: Record<string, string[]> = {};
  for (const [field, reasons] of Object.entries(errors)) {
    if (Array.isArray(reasons)) out[field] = reasons.map(String);
    else if (typeof reasons === 'string') out[field] = [reasons];
  }
  return out;
}

function flatten(errors: Record<string, string[]>): string[] {
  return Object.entries(errors).flatMap(([field, reasons]) =>
    reasons.map((reason) => (field === 'connection' ? reason : `${field} ${reason}`)),
  );
}

function fallbackReason(status: number): string {
  if (status === 401) return 'you need to sign in again';
  if (status === 403) return 'you are not allowed to do that';
  if (status === 404) return 'was not found';
  if (status >= 500) return 'failed on the server; try again in a moment';
  return `was refused (${status})`;
}

/** Any thrown value as an ApiError (so pages can list what went wrong). */
export function asApiError(error: unknown): ApiError {
  if (error instanceof ApiError) return error;
  return new ApiError(0, { error: [error instanceof Error ? error.message : String(error)] });
}
