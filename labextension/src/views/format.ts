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

/** A duration: "12.3 ms" under a second, "1.23 s" above; "–" when unknown. */
export function formatDuration(s: number | null | undefined): string {
  if (s === null || s === undefined || !Number.isFinite(s)) {
    return '–';
  }
  if (s >= 1) {
    return `${s.toFixed(2)} s`;
  }
  return `${(s * 1e3).toFixed(1)} ms`;
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

const COUNT_UNITS = ['k', 'M', 'B', 'T'];

/**
 * A count in short form: "950", "12k", "1.2M", "3.4B" (one decimal under 10 of a unit); "–" when
 * unknown.
 */
export function formatCount(n: number | null | undefined): string {
  if (n === null || n === undefined || !Number.isFinite(n)) {
    return '–';
  }
  if (n < 0) {
    return `-${formatCount(-n)}`;
  }
  if (n < 1000) {
    return String(Math.round(n));
  }
  let value = n / 1000;
  let unit = 0;
  const text = (v: number) => v.toFixed(v < 9.95 ? 1 : 0);
  // Move up a unit when the rounded text would read 1000 or more.
  while (unit < COUNT_UNITS.length - 1 && Number(text(value)) >= 1000) {
    value /= 1000;
    unit++;
  }
  return `${text(value)}${COUNT_UNITS[unit]}`;
}

/** Text for a non-finite number ("NaN", "inf", "-inf"), or null for a finite one. */
function nonFiniteText(x: number): string | null {
  if (Number.isNaN(x)) {
    return 'NaN';
  }
  if (x === Infinity) {
    return 'inf';
  }
  if (x === -Infinity) {
    return '-inf';
  }
  return null;
}

/** A ratio in scientific notation with two significant digits: "1.2e-3"; "–" when unknown. */
export function formatRatio(x: number | null | undefined): string {
  if (x === null || x === undefined || typeof x !== 'number') {
    return '–';
  }
  const special = nonFiniteText(x);
  if (special !== null) {
    return special;
  }
  if (x === 0) {
    return '0';
  }
  return x.toExponential(1).replace('e+', 'e');
}

/**
 * A norm with four significant digits: "12.35", "0.1235", "1234"; scientific outside
 * [1e-3, 1e4): "1.23e5", "4.56e-5"; "–" when unknown.
 */
export function formatNorm(x: number | null | undefined): string {
  if (x === null || x === undefined || typeof x !== 'number') {
    return '–';
  }
  const special = nonFiniteText(x);
  if (special !== null) {
    return special;
  }
  if (x === 0) {
    return '0';
  }
  const a = Math.abs(x);
  if (a >= 1e4 || a < 1e-3) {
    return x.toExponential(2).replace('e+', 'e');
  }
  return String(Number(x.toPrecision(4)));
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
