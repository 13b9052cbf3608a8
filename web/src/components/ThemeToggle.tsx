import { useEffect, useState } from 'react';
import { usePreferences, useSavePreferences } from '../api/techhub';
import { useAuth } from '../auth/auth';
import { applyTheme, isTheme, storedTheme, type ThemeChoice } from '../lib/theme';

const NEXT: Record<ThemeChoice, ThemeChoice> = { system: 'light', light: 'dark', dark: 'system' };
const LABEL: Record<ThemeChoice, string> = { system: 'Theme: system', light: 'Theme: light', dark: 'Theme: dark' };

/**
 * Cycles system → light → dark. Signed in, the choice is the profile's `theme` preference
 * (read when the app opens, saved on change), so it follows the user to other browsers.
 */
export function ThemeToggle() {
  const auth = useAuth();
  const signedIn = auth.state === 'authenticated';
  const prefs = usePreferences(signedIn);
  const save = useSavePreferences();
  // What was clicked here wins; else the profile's preference; else this browser's.
  const [chosen, setChosen] = useState<ThemeChoice | null>(null);
  const saved = prefs.data?.theme;
  const theme: ThemeChoice = chosen ?? (isTheme(saved) ? saved : storedTheme());

  useEffect(() => applyTheme(theme), [theme]);

  return (
    <button
      type="button"
      className="theme-toggle"
      aria-label={`${LABEL[theme]}; switch to ${NEXT[theme]}`}
      title={LABEL[theme]}
      onClick={() => {
        const next = NEXT[theme];
        setChosen(next);
        if (signedIn) save.mutate({ theme: next });
      }}
    >
      <span aria-hidden="true">{theme === 'dark' ? '☾' : theme === 'light' ? '☀' : '◐'}</span>
    </button>
  );
}
