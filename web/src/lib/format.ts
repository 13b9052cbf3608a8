const dateFormat = new Intl.DateTimeFormat('en-US', { month: 'long', day: 'numeric', year: 'numeric' });

/** "January 20, 2026"; the input as given when it is not a date. */
export function formatDate(iso: string | null | undefined): string {
  if (!iso) return '';
  const date = new Date(iso);
  return Number.isNaN(date.getTime()) ? iso : dateFormat.format(date);
}

export const DEFAULT_AVATAR = '/default-avatar.svg';

/**
 * The image to show for a profile picture: the user's URL when it is an http(s) or
 * same-origin address, the default avatar otherwise (null, empty, `javascript:`, `data:`).
 */
export function avatarSrc(image: string | null | undefined): string {
  const url = image?.trim();
  if (url && /^(https?:\/\/|\/)/i.test(url)) return url;
  return DEFAULT_AVATAR;
}

/** Articles per page in every list (the RealWorld contract's pagination uses 10). */
export const PAGE_SIZE = 10;

/** The page number of a `?page=N` search parameter: 1 when absent or not a positive integer. */
export function pageParam(value: string | null): number {
  const n = Number(value);
  return Number.isInteger(n) && n >= 1 ? n : 1;
}
