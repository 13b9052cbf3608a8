/**
 * Small inline icons. Each sits in an `<i class="ion-…">` because the RealWorld e2e contract
 * selects some of them by that class (`.ion-trash-a` to delete a comment, the `i` in an
 * editor tag pill to remove it); the drawing is TechHub's own, no icon font is loaded.
 */
const paths = {
  'trash-a': 'M6 7h12M9 7V4h6v3M8 7l1 13h6l1-13',
  'close-round': 'M6 6l12 12M18 6L6 18',
  heart: 'M12 20s-7-4.4-7-10a4 4 0 0 1 7-2.6A4 4 0 0 1 19 10c0 5.6-7 10-7 10z',
  'plus-round': 'M12 5v14M5 12h14',
  edit: 'M4 20h4L19 9l-4-4L4 16v4z',
  'gear-a': 'M12 9a3 3 0 1 0 0 6 3 3 0 0 0 0-6zM12 2v3M12 19v3M2 12h3M19 12h3M4.9 4.9l2.1 2.1M17 17l2.1 2.1M4.9 19.1L7 17M17 7l2.1-2.1',
  compose: 'M4 20h16M6 16l9.5-9.5 2 2L8 18H6v-2z',
  bookmark: 'M7 4h10v16l-5-4-5 4V4z',
  search: 'M10.5 4a6.5 6.5 0 1 0 0 13 6.5 6.5 0 0 0 0-13zM15.5 15.5L20 20',
} as const;

export type IconName = keyof typeof paths;

export function Icon({ name, label }: { name: IconName; label?: string }) {
  return (
    <i className={`ion-${name} inline-flex align-[-0.15em]`} aria-hidden={label ? undefined : true} aria-label={label} role={label ? 'img' : undefined}>
      <svg viewBox="0 0 24 24" width="1em" height="1em" fill="none" stroke="currentColor" strokeWidth="2" strokeLinecap="round" strokeLinejoin="round">
        <path d={paths[name]} />
      </svg>
    </i>
  );
}
