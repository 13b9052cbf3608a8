import { applyTheme, isDark, isTheme, storedTheme } from './theme';

describe('theme', () => {
  it('knows the three choices', () => {
    expect(isTheme('dark')).toBe(true);
    expect(isTheme('blue')).toBe(false);
  });

  it('shows dark for dark, and for system when the system prefers it', () => {
    expect(isDark('dark', false)).toBe(true);
    expect(isDark('light', true)).toBe(false);
    expect(isDark('system', true)).toBe(true);
    expect(isDark('system', false)).toBe(false);
  });

  it('applies the choice to <html> and remembers it', () => {
    applyTheme('dark');
    expect(document.documentElement.classList.contains('dark')).toBe(true);
    expect(storedTheme()).toBe('dark');
    applyTheme('light');
    expect(document.documentElement.classList.contains('dark')).toBe(false);
    expect(storedTheme()).toBe('light');
  });
});
