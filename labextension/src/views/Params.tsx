/**
 * The Params tab: the parameter trees a training loop watches (`jaxinspect.watch(name, tree,
 * step=i)` or `%jaxinspect watch EXPR`), sampled by the kernel while someone looks.
 *
 * The kernel samples watched trees only while this tab is shown and the kernel is ready: it asks
 * with the `interest` RPC (`{params: seconds}`) and turns the sampler off (`{params: 0}`) when it
 * is switched away, hidden or unmounted. NaN/Inf alerts on top, then per watched name: the step,
 * global norm and update ratio ‖Δθ‖/‖θ‖ with sparklines over the last samples, and a per-module
 * table. Kernel strings are rendered as React text only.
 */

import * as React from 'react';

import type { SessionModel } from '../model';
import type { IParamLayer, IParamsAlert, IParamsWatch } from '../protocol';
import { bounded } from './format';
import { IntervalSelect, intervalText, useSampledInterval } from './interest';
import { finiteSeries, linePoints, SPARK_WIDTH } from './sparkline';
import type { ISparkSample } from './sparkline';
import { NamedText } from './names';
import type { IPanelActions, ITabProps } from './tabs';
import { CellLocation } from './location';

export { DEFAULT_INTERVAL, INTERVALS, intervalText } from './interest';

/** Most alerts shown (one per alert id, the newest record of each). */
export const MAX_ALERT_ROWS = 20;
/** Most watched names shown. */
export const MAX_WATCHES = 20;
/** Most module rows shown per watched name (the kernel sends at most 64). */
export const MAX_LAYER_ROWS = 64;

export const NOT_CONNECTED_TEXT =
  'Not connected to jaxinspect in this kernel; see the Overview tab.';
/** The call the empty state suggests for a training loop. */
export const WATCH_CALL = 'jaxinspect.watch("params", state.params, step=i)';
/** The magic the empty state suggests before the training cell. */
export const WATCH_MAGIC = '%jaxinspect watch EXPR';

/** Height of the norm / update sparklines, in SVG user units. */
export const PARAM_SPARK_HEIGHT = 24;
/** Size of the per-module norm sparkline, in pixels. */
export const LAYER_SPARK_WIDTH = 48;
export const LAYER_SPARK_HEIGHT = 14;

/**
 * The tab badge: the number of watched names, with "⚠" after it when a NaN/Inf alert came in
 * ("2 ⚠", or just "⚠" before any sample); null when there is neither.
 */
export function paramsBadge(model: SessionModel | null): string | null {
  if (!model) {
    return null;
  }
  const watched = model.paramWatchNames.length;
  const alerted = model.paramAlerts.length > 0;
  const parts = [watched > 0 ? String(watched) : '', alerted ? '⚠' : ''].filter(Boolean);
  return parts.length ? parts.join(' ') : null;
}

/**
 * One entry per alert id, newest alert first. A later record with the same id (e.g. once
 * `jaxinspect.nan_guard` has replayed the step and filled `cause`) replaces the earlier one in
 * its place.
 */
export function latestParamAlerts(alerts: readonly IParamsAlert[]): IParamsAlert[] {
  const latest = new Map<string, IParamsAlert>();
  for (const a of alerts) {
    // Insertion order is kept on replacement: an alert stays where it first appeared.
    latest.set(String(a.id), a);
  }
  return Array.from(latest.values()).reverse();
}

/** Most non-finite leaf paths listed under an alert (the kernel sends at most 8). */
export const MAX_ALERT_LEAVES = 8;

/**
 * "lowest – highest" of a sparkline's samples, each as the kernel wrote it (unknown and
 * non-finite values left out); "" when there is none.
 */
export function rangeText(
  history: readonly SessionModel.IParamPoint[],
  value: (p: SessionModel.IParamPoint) => number | null,
  text: (p: SessionModel.IParamPoint) => string
): string {
  let lo: SessionModel.IParamPoint | null = null;
  let hi: SessionModel.IParamPoint | null = null;
  for (const p of history) {
    const v = value(p);
    if (v === null || !Number.isFinite(v)) {
      continue;
    }
    if (lo === null || v < value(lo)!) {
      lo = p;
    }
    if (hi === null || v > value(hi)!) {
      hi = p;
    }
  }
  return lo && hi ? `${text(lo)} – ${text(hi)}` : '';
}

/** The global norms of `history` over time (unknown ones left out). */
export function normSeries(history: readonly SessionModel.IParamPoint[]): ISparkSample[] {
  return finiteSeries(history, p => p.time, p => p.norm);
}

/** The global update ratios of `history` over time (the first sample's null left out). */
export function updateSeries(history: readonly SessionModel.IParamPoint[]): ISparkSample[] {
  return finiteSeries(history, p => p.time, p => p.update);
}

/** The norms of module `path` over `history` (samples that did not list it left out). */
export function layerNormSeries(
  history: readonly SessionModel.IParamPoint[],
  path: string
): ISparkSample[] {
  return finiteSeries(history, p => p.time, p => p.layers.get(path)?.norm);
}


// ---------------------------------------------------------------- the tab

/** The tab: keeps the interval and the kernel's sampler of watched trees in step with the view. */
export function Params(props: ITabProps): React.ReactElement {
  const [interval, onInterval] = useSampledInterval('params', props);
  return (
    <ParamsView
      model={props.model}
      interval={interval}
      onInterval={onInterval}
      actions={props.actions}
    />
  );
}

export interface IParamsViewProps {
  model: SessionModel | null;
  /** Seconds between samples picked in the footer. */
  interval: number;
  onInterval(seconds: number): void;
  /** The panel's actions: an alert's lines in a cell scroll the notebook (`revealCell`). */
  actions?: IPanelActions | null;
}

/** The tab's content for given view state (no hooks, so tests can call it directly). */
export function ParamsView(props: IParamsViewProps): React.ReactElement {
  const { model, interval, onInterval } = props;
  if (!model) {
    return (
      <div className="jp-JaxInspect-params">
        <p className="jp-JaxInspect-hint">Open a notebook to inspect its kernel</p>
      </div>
    );
  }
  if (model.state !== 'ready') {
    return (
      <div className="jp-JaxInspect-params">
        <p className="jp-JaxInspect-hint">{NOT_CONNECTED_TEXT}</p>
      </div>
    );
  }
  const alerts = latestParamAlerts(model.paramAlerts);
  const watches = Array.from(model.paramWatches.values());
  const { shown, more } = bounded(watches, MAX_WATCHES);
  return (
    <div className="jp-JaxInspect-params">
      {alerts.length > 0 && <Alerts alerts={alerts} actions={props.actions} />}
      {watches.length === 0 ? (
        <p className="jp-JaxInspect-hint" data-testid="jaxinspect-params-empty">
          {'Nothing watched yet. Call '}
          <code>{WATCH_CALL}</code>
          {' inside the training loop, or run '}
          <code>{WATCH_MAGIC}</code>
          {' before the training cell; samples show here while this tab is visible.'}
        </p>
      ) : (
        shown.map(w => <Watch key={w.latest.name} watch={w} />)
      )}
      {more > 0 && (
        <div className="jp-JaxInspect-more" data-testid="jaxinspect-params-watch-more">
          {`${more} more watched trees`}
        </div>
      )}
      <Footer interval={interval} onInterval={onInterval} />
    </div>
  );
}

function Alerts(props: {
  alerts: IParamsAlert[];
  actions?: IPanelActions | null;
}): React.ReactElement {
  const { shown, more } = bounded(props.alerts, MAX_ALERT_ROWS);
  return (
    <section className="jp-JaxInspect-section">
      {shown.map(a => (
        <ParamsAlert key={String(a.id)} alert={a} actions={props.actions} />
      ))}
      {more > 0 && (
        <div className="jp-JaxInspect-more" data-testid="jaxinspect-params-alert-more">
          {`${more} more alerts`}
        </div>
      )}
    </section>
  );
}

/**
 * One NaN/Inf alert: the kernel's message, the leaves non-finite at the first bad step (k of n,
 * each path on one line, cut with an ellipsis, the full path in its tooltip), which steps the
 * exact check saw, the cause once `nan_guard` found it, and the fix.
 */
function ParamsAlert(props: {
  alert: IParamsAlert;
  actions?: IPanelActions | null;
}): React.ReactElement {
  const a = props.alert;
  const leaves = Array.isArray(a.leaves) ? a.leaves.map(String) : [];
  const { shown } = bounded(leaves, MAX_ALERT_LEAVES);
  const bad = typeof a.bad_leaves === 'number' ? a.bad_leaves : leaves.length;
  const unlisted = Math.max(0, bad - shown.length);
  const leavesText = a.leaves_text ?? null;
  const last =
    typeof a.last_finite_step === 'number' ? ` · last finite step ${a.last_finite_step}` : '';
  return (
    <div
      className="jp-JaxInspect-alert jp-JaxInspect-alert-error"
      data-testid="jaxinspect-params-alert"
      data-name={a.name}
      data-path={a.path}
      data-alert-id={String(a.id)}
      title={`${a.nan} NaN · ${a.inf} inf${a.step === null ? '' : ` · step ${a.step}`}${last}`}
    >
      <div className="jp-JaxInspect-alertMessage" data-testid="jaxinspect-params-alert-message">
        {a.headline ?? a.message /* an older kernel sent no headline */}
      </div>
      {(leavesText !== null || shown.length > 0) && (
        <div className="jp-JaxInspect-paramsAlertLeaves">
          {leavesText !== null && (
            <div
              className="jp-JaxInspect-paramsAlertLabel"
              data-testid="jaxinspect-params-alert-leaves-count"
            >
              {leavesText}
            </div>
          )}
          {shown.length > 0 && (
            <ul className="jp-JaxInspect-paramsAlertLeafList">
              {shown.map((path, i) => (
                <li
                  key={i}
                  className="jp-JaxInspect-code jp-JaxInspect-paramsAlertLeaf"
                  data-testid="jaxinspect-params-alert-leaf"
                  title={path}
                >
                  {path}
                </li>
              ))}
            </ul>
          )}
          {unlisted > 0 && (
            <div className="jp-JaxInspect-more" data-testid="jaxinspect-params-alert-leaves-more">
              {`${unlisted} more`}
            </div>
          )}
        </div>
      )}
      {a.checked ? (
        <div className="jp-JaxInspect-paramsAlertChecked" data-testid="jaxinspect-params-alert-checked">
          {a.checked}
        </div>
      ) : null}
      {a.cause ? (
        <div className="jp-JaxInspect-paramsAlertCause" data-testid="jaxinspect-params-alert-cause">
          <span className="jp-JaxInspect-paramsAlertLabel">{'cause: '}</span>
          <NamedText text={a.cause} />
          {a.cause_at && (
            <>
              {' '}
              <CellLocation
                loc={a.cause_at}
                actions={props.actions}
                testid="jaxinspect-params-alert-cause-at"
              />
            </>
          )}
        </div>
      ) : null}
      {a.watched_at && (
        <div className="jp-JaxInspect-paramsAlertWatched" data-testid="jaxinspect-params-alert-watched">
          <span className="jp-JaxInspect-paramsAlertLabel">{'logged at '}</span>
          <CellLocation
            loc={a.watched_at}
            actions={props.actions}
            testid="jaxinspect-params-alert-watched-at"
          />
        </div>
      )}
      <div className="jp-JaxInspect-alertHint">
        <NamedText text={`fix: ${a.hint}`} />
      </div>
    </div>
  );
}

function Watch(props: { watch: SessionModel.IParamWatch }): React.ReactElement {
  const { latest: w, history } = props.watch;
  const nonfinite = w.nonfinite > 0;
  const took = `took ${w.took_text}`;
  const every = intervalText(w.interval_s);
  return (
    <section
      className={
        'jp-JaxInspect-section jp-JaxInspect-paramsWatch' +
        (nonfinite ? ' jp-JaxInspect-paramsNonfinite' : '')
      }
      data-testid="jaxinspect-params-watch"
      data-name={w.name}
      data-nonfinite={String(nonfinite)}
    >
      <div className="jp-JaxInspect-paramsHead">
        <span
          className="jp-JaxInspect-code jp-JaxInspect-paramsName"
          data-testid="jaxinspect-params-name"
          title={w.name}
        >
          {w.name}
        </span>
        <span className="jp-JaxInspect-dim jp-JaxInspect-paramsStep">
          {'step '}
          <span data-testid="jaxinspect-params-step">
            {w.step === null || w.step === undefined ? '–' : String(w.step)}
          </span>
        </span>
      </div>
      <div className="jp-JaxInspect-paramsStats">
        {'norm '}
        <span className="jp-JaxInspect-paramsBig" data-testid="jaxinspect-params-norm">
          {w.norm_text}
        </span>
        {' · update '}
        <span
          className="jp-JaxInspect-paramsBig"
          data-testid="jaxinspect-params-update"
          title="‖Δθ‖/‖θ‖ since the previous sample"
        >
          {w.update_text}
        </span>
        {' · '}
        <span
          data-testid="jaxinspect-params-values"
          title={`${w.values} values in ${w.leaves} leaves`}
        >
          {w.values_text}
        </span>
        {' values · '}
        <span
          className={nonfinite ? 'jp-JaxInspect-errorText' : 'jp-JaxInspect-dim'}
          data-testid="jaxinspect-params-nonfinite"
          title="leaves holding NaN or Inf"
        >
          {`${w.nonfinite} non-finite`}
        </span>
      </div>
      <Spark
        testid="jaxinspect-params-norm-sparkline"
        label="norm"
        series={normSeries(history)}
        range={rangeText(history, p => p.norm, p => p.norm_text)}
      />
      <Spark
        testid="jaxinspect-params-update-sparkline"
        label="update"
        series={updateSeries(history)}
        range={rangeText(history, p => p.update, p => p.update_text)}
      />
      <Layers watch={w} history={history} />
      <div className="jp-JaxInspect-dim jp-JaxInspect-paramsSample">
        {'sample #'}
        <span data-testid="jaxinspect-params-seq">{String(w.seq)}</span>
        {` · ${took}${every ? ` · ${every}` : ''}`}
      </div>
      {w.note && (
        <p className="jp-JaxInspect-note" data-testid="jaxinspect-params-note">
          {w.note}
        </p>
      )}
    </section>
  );
}

/** A labelled sparkline over `series`; nothing with fewer than 2 points. */
function Spark(props: {
  testid: string;
  label: string;
  series: ISparkSample[];
  /** "lowest – highest", as the kernel wrote them. */
  range: string;
}): React.ReactElement | null {
  const { testid, label, series, range } = props;
  const points = linePoints(series, SPARK_WIDTH, PARAM_SPARK_HEIGHT);
  if (points === null) {
    return null;
  }
  return (
    <div className="jp-JaxInspect-sparkline jp-JaxInspect-paramsSpark">
      <div className="jp-JaxInspect-sparklineLabels jp-JaxInspect-dim">
        <span>{label}</span>
        <span>{range}</span>
      </div>
      <svg
        data-testid={testid}
        viewBox={`0 0 ${SPARK_WIDTH} ${PARAM_SPARK_HEIGHT}`}
        preserveAspectRatio="none"
        width="100%"
        height={PARAM_SPARK_HEIGHT}
        role="img"
        aria-label={`${label} over the last ${series.length} samples`}
      >
        <polyline
          className="jp-JaxInspect-sparklineLine"
          points={points}
          fill="none"
          vectorEffect="non-scaling-stroke"
        />
      </svg>
    </div>
  );
}

/** A module's norm over the samples, tiny, under its path; nothing with fewer than 2 points. */
function LayerSpark(props: { series: ISparkSample[] }): React.ReactElement | null {
  const points = linePoints(props.series, LAYER_SPARK_WIDTH, LAYER_SPARK_HEIGHT, 1);
  if (points === null) {
    return null;
  }
  return (
    <svg
      className="jp-JaxInspect-paramsLayerSpark"
      data-testid="jaxinspect-params-layer-sparkline"
      viewBox={`0 0 ${LAYER_SPARK_WIDTH} ${LAYER_SPARK_HEIGHT}`}
      width={LAYER_SPARK_WIDTH}
      height={LAYER_SPARK_HEIGHT}
      role="img"
      aria-label={`norm over the last ${props.series.length} samples`}
    >
      <polyline
        className="jp-JaxInspect-sparklineLine"
        points={points}
        fill="none"
        vectorEffect="non-scaling-stroke"
      />
    </svg>
  );
}

function Layers(props: {
  watch: IParamsWatch;
  history: SessionModel.IParamPoint[];
}): React.ReactElement | null {
  const { watch, history } = props;
  const layers: IParamLayer[] = Array.isArray(watch.layers) ? watch.layers : [];
  const { shown, more } = bounded(layers, MAX_LAYER_ROWS);
  const hidden = more + (watch.more_layers > 0 ? watch.more_layers : 0);
  if (shown.length === 0 && hidden === 0) {
    return null;
  }
  return (
    <div className="jp-JaxInspect-paramsLayersWrap">
      <table className="jp-JaxInspect-table jp-JaxInspect-cards jp-JaxInspect-paramsLayers">
        <thead>
          <tr>
            <th>module</th>
            <th className="jp-JaxInspect-num">values</th>
            <th className="jp-JaxInspect-num">norm</th>
            <th className="jp-JaxInspect-num" title="‖Δθ‖/‖θ‖ since the previous sample">
              update
            </th>
            <th className="jp-JaxInspect-num">NaN</th>
            <th className="jp-JaxInspect-num">Inf</th>
          </tr>
        </thead>
        <tbody>
          {shown.map((l, i) => {
            const bad = l.nan > 0 || l.inf > 0;
            return (
              <tr
                key={`${i}:${l.path}`}
                className={bad ? 'jp-JaxInspect-paramsLayerBad' : undefined}
                data-testid="jaxinspect-params-layer"
                data-path={l.path}
                data-nonfinite={String(bad)}
                title={layerTitle(l)}
              >
                <td className="jp-JaxInspect-paramsModule jp-JaxInspect-cardName">
                  <div className="jp-JaxInspect-code jp-JaxInspect-paramsPath" title={l.path}>
                    {l.path}
                  </div>
                  <LayerSpark series={layerNormSeries(history, l.path)} />
                </td>
                <td className="jp-JaxInspect-num" data-label="values">
                  {l.values_text}
                </td>
                <td className="jp-JaxInspect-num" data-label="norm">
                  {l.norm_text}
                </td>
                <td className="jp-JaxInspect-num" data-label="update">
                  {l.update_text}
                </td>
                <td
                  className={
                    'jp-JaxInspect-num' + (l.nan > 0 ? ' jp-JaxInspect-paramsBadCell' : '')
                  }
                  data-label="NaN"
                >
                  {String(l.nan)}
                </td>
                <td
                  className={
                    'jp-JaxInspect-num' + (l.inf > 0 ? ' jp-JaxInspect-paramsBadCell' : '')
                  }
                  data-label="Inf"
                >
                  {String(l.inf)}
                </td>
              </tr>
            );
          })}
          {hidden > 0 && (
            <tr className="jp-JaxInspect-more" data-testid="jaxinspect-params-layers-more">
              <td colSpan={6}>{`${hidden} more layers`}</td>
            </tr>
          )}
        </tbody>
      </table>
    </div>
  );
}

function Footer(props: {
  interval: number;
  onInterval(seconds: number): void;
}): React.ReactElement {
  const { interval, onInterval } = props;
  return (
    <footer className="jp-JaxInspect-paramsFooter">
      <IntervalSelect
        testId="jaxinspect-params-interval"
        className="jp-JaxInspect-paramsInterval"
        interval={interval}
        onInterval={onInterval}
      />
    </footer>
  );
}

/** The row's tooltip: sizes and the live statistics of the module's values. */
export function layerTitle(l: IParamLayer): string {
  const parts = [`${l.leaves} leaves · ${l.values} values`];
  if (l.stats_text) {
    parts.push(l.stats_text);
  }
  return parts.join('\n');
}
