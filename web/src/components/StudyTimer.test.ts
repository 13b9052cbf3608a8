import { clock, sessionMinutes } from './StudyTimer';

describe('sessionMinutes', () => {
  it('rounds up to whole minutes, at least 1 and at most a day', () => {
    expect(sessionMinutes(0)).toBe(1);
    expect(sessionMinutes(59_000)).toBe(1);
    expect(sessionMinutes(61_000)).toBe(2);
    expect(sessionMinutes(3 * 86_400_000)).toBe(1440);
  });
});

describe('clock', () => {
  it('shows minutes and seconds, and hours when there are some', () => {
    expect(clock(0)).toBe('0:00');
    expect(clock(245_000)).toBe('4:05');
    expect(clock(3_729_000)).toBe('1:02:09');
  });
});
