import { pendingTags, previewHtml, readingMinutes } from './Editor';

describe('pendingTags', () => {
  it('adds what is typed, trimmed, split on commas, without duplicates', () => {
    expect(pendingTags(['rust'], ' web , rust,,async ')).toEqual(['rust', 'web', 'async']);
  });

  it('keeps the list when nothing is typed', () => {
    expect(pendingTags(['a', 'b'], '   ')).toEqual(['a', 'b']);
  });
});

describe('readingMinutes', () => {
  it('counts 200 words a minute, at least one', () => {
    expect(readingMinutes('')).toBe(1);
    expect(readingMinutes('word '.repeat(199))).toBe(1);
    expect(readingMinutes('word '.repeat(1000))).toBe(5);
  });
});

describe('previewHtml', () => {
  it('renders Markdown', () => {
    expect(previewHtml('# Title\n\nSome **bold**')).toContain('<strong>bold</strong>');
  });

  it('drops scripts, handlers and javascript: links', () => {
    const html = previewHtml('<script>alert(1)</script>\n\n<img src=x onerror="alert(2)">\n\n[x](javascript:alert(3))');
    expect(html).not.toContain('<script');
    expect(html).not.toContain('onerror');
    expect(html).toContain('<a>x</a>');
    expect(html).not.toContain('javascript:');
  });
});
