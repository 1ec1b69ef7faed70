/** Small text formatters shared by the views (pure, testable). */

/** "updated 0.3 s ago" style age of a timestamp; "never" when there is none. */
export function formatAge(then: number | null, now: number): string {
  if (then === null) {
    return 'never';
  }
  const s = Math.max(0, now - then) / 1000;
  if (s < 10) {
    return `${s.toFixed(1)} s ago`;
  }
  if (s < 120) {
    return `${Math.round(s)} s ago`;
  }
  if (s < 7200) {
    return `${Math.round(s / 60)} min ago`;
  }
  return `${Math.round(s / 3600)} h ago`;
}

/** Seconds with one decimal, or "—" when unknown. */
export function formatSeconds(s: number | null | undefined): string {
  if (s === null || s === undefined || !Number.isFinite(s)) {
    return '—';
  }
  return `${s.toFixed(1)} s`;
}

/** A version string, or "not installed". */
export function formatVersion(v: string | null | undefined): string {
  return v ? v : 'not installed';
}

/** Keep at most `limit` items; report how many were left out. */
export function bounded<T>(items: readonly T[], limit: number): { shown: T[]; more: number } {
  const shown = items.slice(0, limit);
  return { shown, more: Math.max(0, items.length - shown.length) };
}
