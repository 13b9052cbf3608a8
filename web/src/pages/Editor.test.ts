import { pendingTags } from './Editor';

describe('pendingTags', () => {
  it('adds what is typed, trimmed, split on commas, without duplicates', () => {
    expect(pendingTags(['rust'], ' web , rust,,async ')).toEqual(['rust', 'web', 'async']);
  });

  it('keeps the list when nothing is typed', () => {
    expect(pendingTags(['a', 'b'], '   ')).toEqual(['a', 'b']);
  });
});
