import { avatarSrc, DEFAULT_AVATAR, formatDate, pageParam } from './format';

describe('avatarSrc', () => {
  it('keeps http(s) and same-origin addresses', () => {
    expect(avatarSrc('https://example.com/a.png')).toBe('https://example.com/a.png');
    expect(avatarSrc('http://example.com/a.png')).toBe('http://example.com/a.png');
    expect(avatarSrc('/media/a.png')).toBe('/media/a.png');
  });

  it('falls back to the default avatar for missing or unsafe addresses', () => {
    for (const image of [null, undefined, '', '   ', 'javascript:alert(1)', 'data:text/html,<script>']) {
      expect(avatarSrc(image)).toBe(DEFAULT_AVATAR);
    }
  });
});

describe('formatDate', () => {
  it('writes a readable date in UTC-independent words', () => {
    expect(formatDate('2026-01-20T12:00:00.000Z')).toMatch(/January 2\d, 2026/);
  });

  it('keeps what is not a date and blanks what is missing', () => {
    expect(formatDate('yesterday')).toBe('yesterday');
    expect(formatDate(null)).toBe('');
  });
});

describe('pageParam', () => {
  it('reads positive integers and defaults to 1', () => {
    expect(pageParam('3')).toBe(3);
    for (const v of [null, '', '0', '-2', '1.5', 'abc']) expect(pageParam(v)).toBe(1);
  });
});
