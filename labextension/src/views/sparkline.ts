/** Sparkline geometry shared by the tabs (pure, testable); the SVG itself is drawn by each tab. */

/** Sparkline size in SVG user units (the SVG stretches to the sidebar's width). */
export const SPARK_WIDTH = 200;
export const SPARK_HEIGHT = 32;
const SPARK_PAD = 2;

/** One point of a series: `t` places it on x (e.g. unix seconds), `v` on y. */
export interface ISparkSample {
  t: number;
  v: number;
}

/**
 * The polyline `points` of `series` scaled into `width` × `height` (x by `t`, or by index when the
 * `t`s do not spread; a flat line in the middle when `v` does not change), or null with fewer than
 * 2 points. Callers drop unknown (null / non-finite) values first.
 */
export function linePoints(
  series: readonly ISparkSample[],
  width = SPARK_WIDTH,
  height = SPARK_HEIGHT,
  pad = SPARK_PAD
): string | null {
  if (series.length < 2) {
    return null;
  }
  const values = series.map(p => p.v);
  const min = Math.min(...values);
  const max = Math.max(...values);
  const t0 = series[0].t;
  const span = series[series.length - 1].t - t0;
  const byTime = Number.isFinite(span) && span > 0;
  const inner = height - 2 * pad;
  return series
    .map((p, i) => {
      const fx = byTime ? (p.t - t0) / span : i / (series.length - 1);
      const fy = max > min ? (p.v - min) / (max - min) : 0.5;
      const x = Math.min(width, Math.max(0, fx * width));
      const y = pad + (1 - fy) * inner;
      return `${x.toFixed(1)},${y.toFixed(1)}`;
    })
    .join(' ');
}

/** The samples of `items` whose value is a finite number (unknowns left out). */
export function finiteSeries<T>(
  items: readonly T[],
  t: (item: T) => number,
  v: (item: T) => number | null | undefined
): ISparkSample[] {
  const out: ISparkSample[] = [];
  for (const item of items) {
    const value = v(item);
    const time = t(item);
    if (typeof value === 'number' && Number.isFinite(value) && typeof time === 'number') {
      out.push({ t: time, v: value });
    }
  }
  return out;
}
