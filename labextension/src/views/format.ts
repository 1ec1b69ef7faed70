/**
 * Small text helpers shared by the views (pure, testable).
 *
 * Quantities the kernel reports (bytes, compile times, places, reason names and summaries)
 * arrive already written, in record fields formatted once by `jaxinspect/units.py`, so a cell and
 * the sidebar read the same; nothing here reformats them. What stays here is what only the
 * browser knows (ages relative to its clock, local wall-clock time) or layout (bounds, splitting
 * kernel text at its quoted names).
 */

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

/** A version string, or "not installed". */
export function formatVersion(v: string | null | undefined): string {
  return v ? v : 'not installed';
}

/** Keep at most `limit` items; report how many were left out. */
export function bounded<T>(items: readonly T[], limit: number): { shown: T[]; more: number } {
  const shown = items.slice(0, limit);
  return { shown, more: Math.max(0, items.length - shown.length) };
}

/**
 * At most `limit` of a reason's `details` lines, and how many differences are left out. The
 * kernel bounds the list itself and ends it with "… N more": that line is counted, not shown,
 * so `total` is every difference the kernel found.
 */
export function boundedDetails(
  lines: readonly string[] | null | undefined,
  limit: number
): { shown: string[]; more: number; total: number } {
  const all = Array.isArray(lines) ? lines.map(String) : [];
  let kernelMore = 0;
  const m = all.length ? /^… (\d+) more$/.exec(all[all.length - 1]) : null;
  if (m) {
    kernelMore = Number(m[1]);
    all.pop();
  }
  const shown = all.slice(0, Math.max(0, limit));
  const total = all.length + kernelMore;
  return { shown, more: total - shown.length, total };
}

/** Local wall-clock time of Unix seconds, "HH:MM:SS"; "?" when unknown. */
export function formatClock(unixSeconds: number | null | undefined): string {
  if (unixSeconds === null || unixSeconds === undefined || !Number.isFinite(unixSeconds)) {
    return '?';
  }
  const d = new Date(unixSeconds * 1000);
  const pad = (n: number) => String(n).padStart(2, '0');
  return `${pad(d.getHours())}:${pad(d.getMinutes())}:${pad(d.getSeconds())}`;
}

/** A piece of kernel text: plain words, or a name the kernel quoted in backticks. */
export interface ITextPart {
  text: string;
  /** A `quoted` name (a path, an equation, a file:line): shown whole, never broken. */
  code: boolean;
}

/**
 * Split kernel text at its backtick quotes: "`model.fc1.dtype` changed" → a name, then words.
 * An unpaired backtick stays in the text.
 */
export function splitNames(text: string): ITextPart[] {
  const s = String(text ?? '');
  const parts: ITextPart[] = [];
  let at = 0;
  while (at < s.length) {
    const open = s.indexOf('`', at);
    const close = open < 0 ? -1 : s.indexOf('`', open + 1);
    if (open < 0 || close < 0) {
      parts.push({ text: s.slice(at), code: false });
      break;
    }
    if (open > at) {
      parts.push({ text: s.slice(at, open), code: false });
    }
    parts.push({ text: s.slice(open + 1, close), code: true });
    at = close + 1;
  }
  return parts;
}
