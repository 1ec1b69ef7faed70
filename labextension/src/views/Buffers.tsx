/**
 * The Buffers tab: the kernel's live device arrays, who holds them and where they were made.
 *
 * The kernel samples live arrays only while someone looks: this tab asks for snapshots
 * (`interest` RPC, `{buffers: seconds}`) while it is shown and the kernel is ready, and turns
 * the sampler off (`{buffers: 0}`) when it is switched away, hidden or unmounted. Growth alerts on
 * top, then per-device totals, the biggest holders, creation sites and dtypes. Kernel strings are
 * rendered as React text only; every quantity is shown as the kernel wrote it (`*_text`).
 */

import * as React from 'react';

import type { SessionModel } from '../model';
import type { IBufferAlert, IBufferGroup, IBuffersRecord, IDeviceMemory } from '../protocol';
import { CellLocation } from './location';
import { NamedText } from './names';
import type { IPanelActions, ITabProps } from './tabs';
import { bounded } from './format';
import { IntervalSelect, intervalText, useSampledInterval } from './interest';
import { SPARK_HEIGHT, SPARK_WIDTH, linePoints } from './sparkline';

// The interest helpers live in ./interest (shared with the Params tab); re-exported here.
export {
  DEFAULT_INTERVAL,
  INTERVALS,
  interestChanges,
  interestFor,
  interestOnUnmount
} from './interest';
export type { IInterestSend, IInterestSent } from './interest';

/** Most alerts shown (one per group name, the latest). */
export const MAX_ALERT_ROWS = 20;
/** Most device rows shown. */
export const MAX_DEVICE_ROWS = 64;
/** Most owner / site rows shown (the kernel already sends only the largest ~20). */
export const MAX_GROUP_ROWS = 50;
/** Most dtypes shown. */
export const MAX_DTYPE_ROWS = 20;

export const EMPTY_TEXT =
  'Waiting for the first snapshot… (the kernel samples live arrays while this tab is visible)';
export const NOT_CONNECTED_TEXT =
  'Not connected to jaxinspect in this kernel; see the Overview tab.';
export const UNOWNED_LABEL = '(no variable holds these)';
export const NOT_ATTRIBUTED_TEXT = 'owners not computed for this snapshot';
export const PARTIAL_TEXT =
  'owner search stopped at its budget; some arrays may show as unowned';

/** The tab badge: live arrays in the latest snapshot; null before the first. */
export function buffersBadge(model: SessionModel | null): string | null {
  const snap = model?.buffers;
  return snap ? String(snap.arrays) : null;
}

/** The latest alert per group and name, newest first. */
export function latestBufferAlerts(alerts: readonly IBufferAlert[]): IBufferAlert[] {
  const latest = new Map<string, IBufferAlert>();
  for (const a of alerts) {
    const key = `${a.group}\u0000${a.name}`;
    latest.delete(key);
    latest.set(key, a);
  }
  return Array.from(latest.values()).reverse();
}

// ---------------------------------------------------------------- the tab

/** The tab: keeps the interval and the kernel's sampler in step with what is shown. */
export function Buffers(props: ITabProps): React.ReactElement {
  const [interval, onInterval] = useSampledInterval('buffers', props);
  return (
    <BuffersView
      model={props.model}
      interval={interval}
      onInterval={onInterval}
      actions={props.actions}
    />
  );
}

export interface IBuffersViewProps {
  model: SessionModel | null;
  /** Seconds between snapshots picked in the footer. */
  interval: number;
  onInterval(seconds: number): void;
  /** The panel's actions: creation sites in a cell scroll the notebook (`revealCell`). */
  actions?: IPanelActions | null;
}

/** The tab's content for given view state (no hooks, so tests can call it directly). */
export function BuffersView(props: IBuffersViewProps): React.ReactElement {
  const { model, interval, onInterval } = props;
  if (!model) {
    return (
      <div className="jp-JaxInspect-buffers">
        <p className="jp-JaxInspect-hint">Open a notebook to inspect its kernel</p>
      </div>
    );
  }
  if (model.state !== 'ready') {
    return (
      <div className="jp-JaxInspect-buffers">
        <p className="jp-JaxInspect-hint">{NOT_CONNECTED_TEXT}</p>
      </div>
    );
  }
  const snap = model.buffers;
  if (!snap) {
    return (
      <div className="jp-JaxInspect-buffers">
        <p className="jp-JaxInspect-hint" data-testid="jaxinspect-buffers-empty">
          {EMPTY_TEXT}
        </p>
        <Footer snap={null} interval={interval} onInterval={onInterval} />
      </div>
    );
  }
  const alerts = latestBufferAlerts(model.bufferAlerts);
  return (
    <div className="jp-JaxInspect-buffers">
      <Totals snap={snap} history={model.bufferHistory} />
      {alerts.length > 0 && <Alerts alerts={alerts} />}
      <Devices devices={snap.devices ?? []} />
      <Owners snap={snap} actions={props.actions} />
      <Sites sites={snap.sites ?? []} actions={props.actions} />
      <Dtypes dtypes={snap.dtypes ?? []} />
      <Footer snap={snap} interval={interval} onInterval={onInterval} />
    </div>
  );
}

function plural(n: number, word: string): string {
  return `${n} ${word}${n === 1 ? '' : 's'}`;
}

function Totals(props: {
  snap: IBuffersRecord;
  history: SessionModel.IBufferPoint[];
}): React.ReactElement {
  const { snap, history } = props;
  return (
    <section className="jp-JaxInspect-section">
      <div className="jp-JaxInspect-buffersTotal" data-testid="jaxinspect-buffers-total">
        <span className="jp-JaxInspect-buffersBig">{snap.device_bytes_text}</span>
        {` on devices · ${plural(snap.arrays, 'array')}`}
        {snap.bytes !== snap.device_bytes && ` · ${snap.bytes_text} logical`}
        {snap.deleted > 0 && (
          <span className="jp-JaxInspect-dim">{` · ${snap.deleted} deleted`}</span>
        )}
      </div>
      <Sparkline history={history} />
    </section>
  );
}

export { SPARK_HEIGHT, SPARK_WIDTH };

/**
 * The polyline `points` of device bytes over `history` (x by time, or by index when the times
 * do not spread), or null with fewer than 2 points.
 */
export function sparklinePoints(
  history: readonly SessionModel.IBufferPoint[],
  width = SPARK_WIDTH,
  height = SPARK_HEIGHT
): string | null {
  return linePoints(
    history.map(p => ({ t: p.time, v: p.device_bytes })),
    width,
    height
  );
}

function Sparkline(props: { history: SessionModel.IBufferPoint[] }): React.ReactElement | null {
  const { history } = props;
  const points = sparklinePoints(history);
  if (points === null) {
    return null;
  }
  // the lowest and highest snapshots, each shown as the kernel wrote its total
  let min = history[0];
  let max = history[0];
  for (const p of history) {
    if (p.device_bytes < min.device_bytes) {
      min = p;
    }
    if (p.device_bytes > max.device_bytes) {
      max = p;
    }
  }
  return (
    <div className="jp-JaxInspect-sparkline">
      <svg
        data-testid="jaxinspect-buffers-sparkline"
        viewBox={`0 0 ${SPARK_WIDTH} ${SPARK_HEIGHT}`}
        preserveAspectRatio="none"
        width="100%"
        height={SPARK_HEIGHT}
        role="img"
        aria-label={`device bytes over the last ${history.length} snapshots`}
      >
        <polyline
          className="jp-JaxInspect-sparklineLine"
          points={points}
          fill="none"
          vectorEffect="non-scaling-stroke"
        />
      </svg>
      <div className="jp-JaxInspect-sparklineLabels jp-JaxInspect-dim">
        <span data-testid="jaxinspect-buffers-min">{`min ${min.device_bytes_text}`}</span>
        <span data-testid="jaxinspect-buffers-max">{`max ${max.device_bytes_text}`}</span>
      </div>
    </div>
  );
}

function Alerts(props: { alerts: IBufferAlert[] }): React.ReactElement {
  const { shown, more } = bounded(props.alerts, MAX_ALERT_ROWS);
  return (
    <section className="jp-JaxInspect-section">
      {shown.map(a => (
        <div
          key={`${a.group}\u0000${a.name}`}
          className="jp-JaxInspect-alert"
          data-testid="jaxinspect-buffers-alert"
          data-name={a.name}
          data-group={a.group}
        >
          <div className="jp-JaxInspect-alertMessage">
            <NamedText text={a.message} />
          </div>
          <div className="jp-JaxInspect-alertHint">
            <NamedText text={`fix: ${a.hint}`} />
          </div>
        </div>
      ))}
      {more > 0 && (
        <div className="jp-JaxInspect-more" data-testid="jaxinspect-buffers-alert-more">
          {`${more} more alerts`}
        </div>
      )}
    </section>
  );
}

/** "in use / peak / limit" from the allocator, or "–" when it gives none (CPU). */
export function allocatorText(d: IDeviceMemory): string {
  if (d.bytes_in_use === null && d.peak_bytes_in_use === null && d.bytes_limit === null) {
    return '–';
  }
  return [d.in_use_text, d.peak_text, d.limit_text].join(' / ');
}

function Devices(props: { devices: IDeviceMemory[] }): React.ReactElement | null {
  if (props.devices.length === 0) {
    return null;
  }
  const { shown, more } = bounded(props.devices, MAX_DEVICE_ROWS);
  return (
    <section className="jp-JaxInspect-section">
      <h3 className="jp-JaxInspect-sectionTitle">Devices</h3>
      <table className="jp-JaxInspect-table jp-JaxInspect-cards jp-JaxInspect-bufferDevices">
        <thead>
          <tr>
            <th>device</th>
            <th className="jp-JaxInspect-num">arrays</th>
            <th className="jp-JaxInspect-num">bytes</th>
            <th className="jp-JaxInspect-num">in use / peak / limit</th>
          </tr>
        </thead>
        <tbody>
          {shown.map(d => (
            <tr
              key={`${d.device}:${d.id}`}
              data-testid="jaxinspect-buffers-device"
              data-device={d.device}
              title={`${d.platform} device ${d.id}`}
            >
              <td className="jp-JaxInspect-code jp-JaxInspect-cardName" title={d.device}>
                {d.device}
              </td>
              <td className="jp-JaxInspect-num" data-label="arrays">
                {String(d.arrays)}
              </td>
              <td className="jp-JaxInspect-num" data-label="bytes">
                {d.bytes_text}
              </td>
              <td className="jp-JaxInspect-num jp-JaxInspect-cardRow" data-label="in use / peak / limit">
                {allocatorText(d)}
              </td>
            </tr>
          ))}
          {more > 0 && (
            <tr className="jp-JaxInspect-more">
              <td colSpan={4}>{`${more} more`}</td>
            </tr>
          )}
        </tbody>
      </table>
    </section>
  );
}

/** A table of groups (owners or sites), largest first as the kernel sent them. */
function GroupRows(props: {
  groups: IBufferGroup[];
  testid: string;
  attr: 'data-owner' | 'data-site';
  actions?: IPanelActions | null;
}): React.ReactElement {
  const { shown, more } = bounded(props.groups, MAX_GROUP_ROWS);
  return (
    <>
      {shown.map((g, i) => (
        <tr
          key={`${i}:${g.name}`}
          data-testid={props.testid}
          {...{ [props.attr]: g.name }}
          title={g.site ?? ''}
        >
          <td className="jp-JaxInspect-code jp-JaxInspect-groupName jp-JaxInspect-cardName" title={g.name}>
            {props.attr === 'data-site' && g.at ? (
              <CellLocation loc={g.at} text={g.name} actions={props.actions} testid="jaxinspect-buffers-site-location" />
            ) : (
              g.name
            )}
          </td>
          <td className="jp-JaxInspect-num" data-label="arrays">
            {String(g.arrays)}
          </td>
          <td className="jp-JaxInspect-num" data-label="bytes">
            {g.bytes_text}
          </td>
          <td className="jp-JaxInspect-dim jp-JaxInspect-cardRow jp-JaxInspect-cardWrap" data-label="e.g.">
            <span className="jp-JaxInspect-code" title={g.example}>
              {g.example}
            </span>
            {props.attr === 'data-owner' && g.at && (
              <>
                {' made at '}
                <CellLocation
                  loc={g.at}
                  actions={props.actions}
                  testid="jaxinspect-buffers-owner-location"
                />
              </>
            )}
          </td>
        </tr>
      ))}
      {more > 0 && (
        <tr className="jp-JaxInspect-more" data-testid={`${props.testid}-more`}>
          <td colSpan={4}>{`${more} more`}</td>
        </tr>
      )}
    </>
  );
}

function GroupHead(props: { label: string }): React.ReactElement {
  return (
    <thead>
      <tr>
        <th>{props.label}</th>
        <th className="jp-JaxInspect-num">arrays</th>
        <th className="jp-JaxInspect-num">bytes</th>
        <th>e.g.</th>
      </tr>
    </thead>
  );
}

function Owners(props: {
  snap: IBuffersRecord;
  actions?: IPanelActions | null;
}): React.ReactElement | null {
  const { snap } = props;
  const owners = snap.owners ?? [];
  const unowned = snap.unowned;
  const showUnowned = !!unowned && unowned.arrays > 0;
  const notes: string[] = [];
  if (!snap.attributed) {
    notes.push(NOT_ATTRIBUTED_TEXT);
  } else if (snap.partial) {
    notes.push(PARTIAL_TEXT);
  }
  if (owners.length === 0 && !showUnowned && notes.length === 0) {
    return null;
  }
  return (
    <section className="jp-JaxInspect-section">
      <h3 className="jp-JaxInspect-sectionTitle">Top holders</h3>
      {notes.map(n => (
        <p key={n} className="jp-JaxInspect-note" data-testid="jaxinspect-buffers-owners-note">
          {n}
        </p>
      ))}
      {(owners.length > 0 || showUnowned) && (
        <table className="jp-JaxInspect-table jp-JaxInspect-cards jp-JaxInspect-bufferGroups">
          <GroupHead label="held by" />
          <tbody>
            <GroupRows
              groups={owners}
              testid="jaxinspect-buffers-owner"
              attr="data-owner"
              actions={props.actions}
            />
            {showUnowned && (
              <tr
                className="jp-JaxInspect-unowned"
                data-testid="jaxinspect-buffers-unowned"
                title={unowned.site ?? ''}
              >
                <td className="jp-JaxInspect-dim jp-JaxInspect-cardName" title={UNOWNED_LABEL}>
                  {UNOWNED_LABEL}
                </td>
                <td className="jp-JaxInspect-num" data-label="arrays">
                  {String(unowned.arrays)}
                </td>
                <td className="jp-JaxInspect-num" data-label="bytes">
                  {unowned.bytes_text}
                </td>
                <td
                  className="jp-JaxInspect-code jp-JaxInspect-dim jp-JaxInspect-cardRow"
                  data-label="e.g."
                  title={unowned.example}
                >
                  {unowned.example}
                </td>
              </tr>
            )}
          </tbody>
        </table>
      )}
    </section>
  );
}

function Sites(props: {
  sites: IBufferGroup[];
  actions?: IPanelActions | null;
}): React.ReactElement | null {
  if (props.sites.length === 0) {
    return null;
  }
  return (
    <section className="jp-JaxInspect-section">
      <h3 className="jp-JaxInspect-sectionTitle">Top creation sites</h3>
      <table className="jp-JaxInspect-table jp-JaxInspect-cards jp-JaxInspect-bufferGroups">
        <GroupHead label="created at" />
        <tbody>
          <GroupRows
            groups={props.sites}
            testid="jaxinspect-buffers-site"
            attr="data-site"
            actions={props.actions}
          />
        </tbody>
      </table>
    </section>
  );
}

function Dtypes(props: { dtypes: IBufferGroup[] }): React.ReactElement | null {
  if (props.dtypes.length === 0) {
    return null;
  }
  const { shown, more } = bounded(props.dtypes, MAX_DTYPE_ROWS);
  return (
    <section className="jp-JaxInspect-section">
      <h3 className="jp-JaxInspect-sectionTitle">By dtype</h3>
      <ul className="jp-JaxInspect-dtypes">
        {shown.map((g, i) => (
          <li
            key={`${i}:${g.name}`}
            data-testid="jaxinspect-buffers-dtype"
            data-dtype={g.name}
            title={g.example}
          >
            <span className="jp-JaxInspect-code">{g.name}</span>
            {` ${g.bytes_text}`}
            <span className="jp-JaxInspect-dim">{` (${plural(g.arrays, 'array')})`}</span>
          </li>
        ))}
        {more > 0 && <li className="jp-JaxInspect-dim">{`${more} more`}</li>}
      </ul>
    </section>
  );
}

/** "every 0.5 s" for a sampler interval; "sampler off" without one. */
export function samplerText(intervalS: number | null | undefined): string {
  return intervalText(intervalS) || 'sampler off';
}

function Footer(props: {
  snap: IBuffersRecord | null;
  interval: number;
  onInterval(seconds: number): void;
}): React.ReactElement {
  const { snap, interval, onInterval } = props;
  return (
    <footer className="jp-JaxInspect-buffersFooter">
      {snap && (
        <span className="jp-JaxInspect-dim">
          {'snapshot #'}
          <span data-testid="jaxinspect-buffers-seq">{String(snap.seq)}</span>
          {` · ${snap.trigger} · took ${snap.took_text} · ${samplerText(
            snap.interval_s
          )}`}
        </span>
      )}
      <IntervalSelect
        testId="jaxinspect-buffers-interval"
        className="jp-JaxInspect-buffersInterval"
        interval={interval}
        onInterval={onInterval}
      />
    </footer>
  );
}
