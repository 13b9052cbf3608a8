import { useSyncExternalStore } from 'react';

/** Light, dark, or whatever the system prefers: the profile's `theme` preference. */
export type ThemeChoice = 'system' | 'light' | 'dark';

const KEY = 'techhub:theme';

export function isTheme(value: unknown): value is ThemeChoice {
  return value === 'system' || value === 'light' || value === 'dark';
}

/** The choice remembered in this browser (the profile's, once known); `system` by default. */
export function storedTheme(): ThemeChoice {
  try {
    const v = localStorage.getItem(KEY);
    return isTheme(v) ? v : 'system';
  } catch {
    return 'system';
  }
}

/** Whether a choice shows dark, given whether the system prefers dark. */
export function isDark(choice: ThemeChoice, systemDark: boolean): boolean {
  return choice === 'dark' || (choice === 'system' && systemDark);
}

const systemQuery = () => window.matchMedia?.('(prefers-color-scheme: dark)');

/** Shows `choice` (the `dark` class on <html>) and remembers it in this browser. */
export function applyTheme(choice: ThemeChoice): void {
  try {
    localStorage.setItem(KEY, choice);
  } catch {
    // Private mode: the theme still applies to this page.
  }
  const dark = isDark(choice, systemQuery()?.matches ?? false);
  document.documentElement.classList.toggle('dark', dark);
  document.documentElement.style.colorScheme = dark ? 'dark' : 'light';
}

/** Applies the remembered theme now and follows system changes while the choice is `system`. */
export function startTheme(): void {
  applyTheme(storedTheme());
  systemQuery()?.addEventListener('change', () => {
    if (storedTheme() === 'system') applyTheme('system');
  });
}

function watchDark(onChange: () => void): () => void {
  const observer = new MutationObserver(onChange);
  observer.observe(document.documentElement, { attributes: true, attributeFilter: ['class'] });
  return () => observer.disconnect();
}

/** Whether the page shows dark now; re-renders when the theme changes. */
export function useDarkShown(): boolean {
  return useSyncExternalStore(watchDark, () => document.documentElement.classList.contains('dark'));
}
