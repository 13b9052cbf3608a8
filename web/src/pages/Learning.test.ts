import { splitList } from './Learning';

describe('splitList', () => {
  it('splits on commas, trims, drops empties and duplicates', () => {
    expect(splitList(' rust, tokio ,, rust ,sql')).toEqual(['rust', 'tokio', 'sql']);
    expect(splitList('   ')).toEqual([]);
  });
});
