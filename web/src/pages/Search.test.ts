import { highlight, readFilter } from './Search';

describe('highlight', () => {
  it('keeps the server marks and nothing else', () => {
    expect(highlight('<mark>rust</mark> &lt;b&gt; <b>x</b><img src=x onerror=alert(1)>')).toBe('<mark>rust</mark> &lt;b&gt; x');
  });
});

describe('readFilter', () => {
  it('reads the query, filters and page from the address', () => {
    expect(readFilter(new URLSearchParams('q=async&tag=rust&difficulty=advanced&author=ada&page=3'))).toEqual({
      q: 'async',
      tag: 'rust',
      difficulty: 'advanced',
      author: 'ada',
      page: 3,
    });
  });

  it('leaves out empty filters and bad pages', () => {
    expect(readFilter(new URLSearchParams('q=x&tag=&page=-2'))).toEqual({ q: 'x', tag: undefined, difficulty: undefined, author: undefined, page: 1 });
  });
});
