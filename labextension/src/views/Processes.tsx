/**
 * The Processes tab: the processes of a multi-process JAX job (jax.distributed, one process per
 * host) that publish their records to this kernel's collector
 * (`jaxinspect.collect_processes()` here, `jaxinspect.connect()` there).
 *
 * A summary line, then one column per process side by side (state, backend, compiles, memory,
 * alerts, records), the compiles per function across processes (a function compiled a different
 * number of times on different processes is marked: in a multi-controller job such processes
 * usually hang at the next collective), the memory per device and the newest alerts. Strings from
 * other processes are rendered as React text only.
 *
 * The facts per process and the compiles per function with their divergence marks are computed
 * once, by the kernel's collector (the `processes` record, `jaxinspect/live/processtable.py`);
 * this tab lays them out beside what each process's own records said.
 */

import * as React from 'react';

import type {
  IProcessAlert,
  IProcessFacts,
  IProcessFunctionRow,
  IProcessesSummary,
  ProcessModel,
  SessionModel
} from '../model';
import type { IDeviceMemory, IProcessRecord } from '../protocol';
import { bounded, formatAge, formatClock } from './format';
import { NamedText } from './names';
import type { ITabProps } from './tabs';

/** Most process columns shown (differences are still computed over all processes). */
export const MAX_PROCESS_COLUMNS = 64;
/** Most function rows in "Compiles by function". */
export const MAX_FUNCTION_ROWS = 50;
/** Most (process, device) rows in "Memory per device". */
export const MAX_MEMORY_ROWS = 256;
/** Most alerts shown (newest first). */
export const MAX_ALERT_ROWS = 20;

export const NOT_CONNECTED_TEXT =
  'Not connected to jaxinspect in this kernel; see the Overview tab.';
export const EMPTY_TEXT = 'No processes are publishing here.';
/** The hint under the empty state, as plain text (the view shows the code parts as code). */
export const HINT_TEXT =
  'In this notebook: c = jaxinspect.collect_processes(); pass c.env to each process ' +
  '(or set JAXINSPECT_COLLECTOR=c.address); in each process: import jaxinspect; ' +
  'jaxinspect.connect()';
/** The visible marker of a function whose compile counts differ between processes. */
export const DIFFERS_TEXT = '≠ differs across processes';

// ---------------------------------------------------------------- derived data (pure)

function plural(n: number, one: string, many: string): string {
  return `${n} ${n === 1 ? one : many}`;
}

/** "p3", or "p?" when the index is unknown. */
export function processLabel(info: IProcessRecord): string {
  return Number.isInteger(info.process_index) && info.process_index >= 0
    ? `p${info.process_index}`
    : 'p?';
}

/** "host:pid" ("?" for an unknown pid). */
export function hostText(info: IProcessRecord): string {
  return `${info.host}:${info.pid > 0 ? info.pid : '?'}`;
}

/**
 * The state line of a process: "connected · 2.1 s ago", "closed · 5 min ago", or
 * "lost — connection dropped at 12:34:56". `now` is `Date.now()`.
 */
export function stateText(p: ProcessModel, now: number): string {
  const info = p.info;
  if (info.state === 'lost') {
    return `lost — connection dropped at ${formatClock(info.last_seen)}`;
  }
  let seen = Number.isFinite(info.last_seen) ? info.last_seen * 1000 : null;
  if (info.state === 'connected' && p.lastReceived !== null) {
    seen = seen === null ? p.lastReceived : Math.max(seen, p.lastReceived);
  }
  return `${info.state} · ${formatAge(seen, now)}`;
}

/**
 * The kernel's summary line ("3 processes · 2 connected · 1 lost · job of 4"), with what this
 * sidebar dropped to stay bounded; a bare count before the kernel's first `processes` record.
 */
export function processesSummary(
  summary: IProcessesSummary | null,
  processes: readonly ProcessModel[],
  droppedProcesses = 0
): string {
  const n = processes.length;
  const parts = [summary?.summary || plural(n, 'process', 'processes')];
  if (droppedProcesses > 0) {
    parts.push(`${droppedProcesses} older not kept`);
  }
  return parts.join(' · ');
}

/** The device labels of a process: from its `process` record, else from its `env`. */
export function processDevices(p: ProcessModel): string[] {
  const labels = Array.isArray(p.info.devices) ? p.info.devices : [];
  if (labels.length === 0 && p.env && Array.isArray(p.env.devices)) {
    return p.env.devices.filter(d => d.process_index === p.info.process_index).map(d => d.label);
  }
  return labels;
}

/** The kernel's facts about each process (by connection id), from the latest `processes`. */
export function factsById(summary: IProcessesSummary | null): Map<number, IProcessFacts> {
  return new Map((summary?.processes ?? []).map(f => [f.id, f]));
}

/** The kernel's compiles per function across processes (differing ones first), or none. */
export function functionRows(summary: IProcessesSummary | null): IProcessFunctionRow[] {
  return Array.isArray(summary?.functions) ? summary!.functions : [];
}

/** One row of "Memory per device". */
export interface IMemoryRow {
  process: ProcessModel;
  device: IDeviceMemory;
}

export function memoryRows(processes: readonly ProcessModel[]): IMemoryRow[] {
  const out: IMemoryRow[] = [];
  for (const p of processes) {
    const devices = p.buffers && Array.isArray(p.buffers.devices) ? p.buffers.devices : [];
    for (const device of devices) {
      if (device && typeof device === 'object') {
        out.push({ process: p, device });
      }
    }
  }
  return out;
}

/** All processes' alerts, newest first. */
export function processAlerts(processes: readonly ProcessModel[]): IProcessAlert[] {
  const out: IProcessAlert[] = [];
  for (const p of processes) {
    out.push(...p.alerts);
  }
  return out.sort((a, b) => b.seq - a.seq);
}

/** "message", or "where: message" for an internal error. */
export function alertText(alert: IProcessAlert): string {
  const r = alert.record;
  if (r.kind === 'internal_error') {
    return `${r.where}: ${r.message}`;
  }
  return String(r.message);
}

/** The tab badge: the process count, with "≠" when compile counts differ; null for none. */
export function processesBadge(model: SessionModel | null): string | null {
  if (!model) {
    return null;
  }
  const processes = model.processes;
  if (processes.length === 0) {
    return null;
  }
  const differs = (model.processesSummary?.differing ?? 0) > 0;
  return differs ? `${processes.length} ≠` : String(processes.length);
}

// ---------------------------------------------------------------- the tab

/** The tab (no hooks, so tests can call it directly). */
export function Processes(props: ITabProps): React.ReactElement {
  const { model, now, wide } = props;
  if (!model) {
    return (
      <div className="jp-JaxInspect-processes">
        <p className="jp-JaxInspect-hint">Open a notebook to inspect its kernel</p>
      </div>
    );
  }
  if (model.state !== 'ready') {
    return (
      <div className="jp-JaxInspect-processes">
        <p className="jp-JaxInspect-hint">{NOT_CONNECTED_TEXT}</p>
      </div>
    );
  }
  const processes = model.processes;
  if (processes.length === 0) {
    return (
      <div className="jp-JaxInspect-processes">
        <Empty />
      </div>
    );
  }
  const { shown: columns, more: moreColumns } = bounded(processes, MAX_PROCESS_COLUMNS);
  const summary = model.processesSummary;
  const facts = factsById(summary);
  const functions = functionRows(summary);
  const memory = memoryRows(processes);
  const alerts = processAlerts(processes);
  const duplicates = Object.entries(summary?.duplicates ?? {}).map(([index, connected]) => ({
    index,
    connected
  }));
  return (
    <div className="jp-JaxInspect-processes">
      <div className="jp-JaxInspect-processesSummary" data-testid="jaxinspect-processes-summary">
        {processesSummary(summary, processes, model.processesDropped)}
      </div>
      {duplicates.map(d => (
        <p
          key={d.index}
          className="jp-JaxInspect-warnText"
          data-testid="jaxinspect-processes-duplicate"
          data-process-index={d.index}
        >
          {`p${d.index} is claimed by ${d.connected} connected processes`}
        </p>
      ))}
      {wide ? (
        <ProcessTable columns={columns} facts={facts} now={now} />
      ) : (
        <ProcessCards columns={columns} facts={facts} now={now} />
      )}
      {moreColumns > 0 && (
        <div className="jp-JaxInspect-more" data-testid="jaxinspect-processes-columns-more">
          {`${moreColumns} more ${moreColumns === 1 ? 'process' : 'processes'} not shown`}
        </div>
      )}
      {functions.length > 0 && (
        <FunctionTable rows={functions} summary={summary!} columns={columns} />
      )}
      {memory.length > 0 && <MemoryTable rows={memory} />}
      {alerts.length > 0 && <Alerts alerts={alerts} processes={processes} />}
    </div>
  );
}

function Empty(): React.ReactElement {
  return (
    <div className="jp-JaxInspect-notice">
      <p className="jp-JaxInspect-hint" data-testid="jaxinspect-processes-empty">
        {EMPTY_TEXT}
      </p>
      <p className="jp-JaxInspect-hint" data-testid="jaxinspect-processes-hint">
        {'In this notebook: '}
        <code>c = jaxinspect.collect_processes()</code>
        {'; pass '}
        <code>c.env</code>
        {' to each process (or set '}
        <code>JAXINSPECT_COLLECTOR=c.address</code>
        {'); in each process: '}
        <code>import jaxinspect; jaxinspect.connect()</code>
      </p>
    </div>
  );
}

/** The class of a state line: connected, lost, or other (never the process's string). */
function stateClass(state: string): string {
  const known = state === 'connected' || state === 'lost' ? state : 'other';
  return `jp-JaxInspect-processState jp-JaxInspect-processState-${known}`;
}

function colClass(p: ProcessModel, base: string): string {
  return p.info.state === 'lost' ? `${base} jp-JaxInspect-processLost` : base;
}

/** The rows of the side-by-side table: a label and each process's cell. */
const ROWS: {
  row: string;
  label: string;
  cell(p: ProcessModel, f: IProcessFacts | null, now: number): React.ReactNode;
  title?(p: ProcessModel, f: IProcessFacts | null): string | undefined;
}[] = [
  {
    row: 'state',
    label: 'state',
    cell: (p, _f, now) => (
      <>
        <span className={stateClass(p.info.state)} data-testid="jaxinspect-processes-state">
          {stateText(p, now)}
        </span>
        {p.info.note && (
          <div className="jp-JaxInspect-note" data-testid="jaxinspect-processes-note">
            {p.info.note}
          </div>
        )}
      </>
    ),
    title: p =>
      p.placeholder
        ? 'no process record received yet'
        : `connected at ${formatClock(p.info.connected_at)}`
  },
  {
    row: 'backend',
    label: 'backend',
    cell: p =>
      `${p.info.backend ?? p.env?.backend ?? '?'} · ` +
      plural(processDevices(p).length, 'device', 'devices'),
    title: p =>
      [p.info.jax_version ? `jax ${p.info.jax_version}` : '', processDevices(p).join(', ')]
        .filter(Boolean)
        .join(' · ') || undefined
  },
  {
    row: 'compiles',
    label: 'compiles',
    cell: (_p, f) => (f ? String(f.compiles) : '–'),
    title: (_p, f) =>
      f && f.internal_compiles > 0 ? `plus ${f.internal_compiles} JAX-internal compiles` : undefined
  },
  {
    row: 'compile-time',
    label: 'compile time',
    cell: (_p, f) => f?.compile_text ?? '–'
  },
  {
    row: 'last-recompile',
    label: 'last recompile',
    cell: (_p, f) => (f?.last_recompile ? <NamedText text={f.last_recompile} /> : '–')
  },
  {
    row: 'arrays',
    label: 'live arrays',
    cell: (_p, f) => (f && f.arrays !== null ? String(f.arrays) : '–')
  },
  {
    row: 'bytes',
    label: 'live bytes',
    cell: (_p, f) => f?.bytes_text ?? '–'
  },
  {
    row: 'in-use',
    label: 'device memory in use',
    cell: (_p, f) => f?.in_use_text ?? '–'
  },
  {
    row: 'peak',
    label: 'peak',
    cell: (_p, f) => f?.peak_text ?? '–'
  },
  {
    row: 'alerts',
    label: 'alerts',
    cell: p =>
      p.alertCount > 0 ? (
        <span className="jp-JaxInspect-warnText">{String(p.alertCount)}</span>
      ) : (
        '0'
      )
  },
  {
    row: 'records',
    label: 'records received / dropped',
    cell: p => (
      <>
        {`${Math.max(p.info.records, p.records)} / `}
        <span className={p.info.dropped > 0 ? 'jp-JaxInspect-errorText' : undefined}>
          {String(p.info.dropped)}
        </span>
      </>
    )
  }
];

function ProcessTable(props: {
  columns: ProcessModel[];
  facts: Map<number, IProcessFacts>;
  now: number;
}): React.ReactElement {
  const { columns, now } = props;
  const facts = columns.map(p => props.facts.get(p.info.id) ?? null);
  return (
    <section className="jp-JaxInspect-section">
      <div className="jp-JaxInspect-processesScroll">
        <table
          className="jp-JaxInspect-table jp-JaxInspect-processesTable"
          data-testid="jaxinspect-processes-table"
        >
          <thead>
            <tr>
              <th />
              {columns.map(p => (
                <th
                  key={p.info.id}
                  className={colClass(p, 'jp-JaxInspect-processCol')}
                  data-testid={`jaxinspect-processes-col-${p.info.id}`}
                  data-process-id={String(p.info.id)}
                  data-process-index={String(p.info.process_index)}
                  data-state={p.info.state}
                  title={`connection ${p.info.id}`}
                >
                  <div className="jp-JaxInspect-processLabel">{processLabel(p.info)}</div>
                  <div className="jp-JaxInspect-dim jp-JaxInspect-code">{hostText(p.info)}</div>
                </th>
              ))}
            </tr>
          </thead>
          <tbody>
            {ROWS.map(r => (
              <tr key={r.row} data-testid="jaxinspect-processes-row" data-row={r.row}>
                <th scope="row">{r.label}</th>
                {columns.map((p, i) => (
                  <td
                    key={p.info.id}
                    className={colClass(p, 'jp-JaxInspect-processCell')}
                    data-process-id={String(p.info.id)}
                    title={r.title?.(p, facts[i])}
                  >
                    {r.cell(p, facts[i], now)}
                  </td>
                ))}
              </tr>
            ))}
          </tbody>
        </table>
      </div>
    </section>
  );
}

/**
 * The narrow sidebar's form of the side-by-side table: a card per process (its label and host on
 * one line, then the same rows as label / value pairs), one under the other.
 */
function ProcessCards(props: {
  columns: ProcessModel[];
  facts: Map<number, IProcessFacts>;
  now: number;
}): React.ReactElement {
  const { columns, now } = props;
  return (
    <section className="jp-JaxInspect-section">
      <div className="jp-JaxInspect-processCards" data-testid="jaxinspect-processes-table">
        {columns.map(p => {
          const f = props.facts.get(p.info.id) ?? null;
          const host = hostText(p.info);
          return (
            <div
              key={p.info.id}
              className={colClass(p, 'jp-JaxInspect-card jp-JaxInspect-processCard')}
              data-testid={`jaxinspect-processes-col-${p.info.id}`}
              data-process-id={String(p.info.id)}
              data-process-index={String(p.info.process_index)}
              data-state={p.info.state}
            >
              <div className="jp-JaxInspect-cardHead" title={`connection ${p.info.id}`}>
                <span className="jp-JaxInspect-processLabel">{processLabel(p.info)}</span>
                <span className="jp-JaxInspect-dim jp-JaxInspect-code" title={host}>
                  {host}
                </span>
              </div>
              <dl className="jp-JaxInspect-cardPairs">
                {ROWS.map(r => (
                  <div
                    key={r.row}
                    className={'jp-JaxInspect-cardPair jp-JaxInspect-cardPair-' + r.row}
                    data-testid="jaxinspect-processes-field"
                    data-row={r.row}
                    title={r.title?.(p, f)}
                  >
                    <dt>{r.label}</dt>
                    <dd className="jp-JaxInspect-processCell">{r.cell(p, f, now)}</dd>
                  </div>
                ))}
              </dl>
            </div>
          );
        })}
      </div>
    </section>
  );
}

function FunctionTable(props: {
  rows: IProcessFunctionRow[];
  summary: IProcessesSummary;
  columns: ProcessModel[];
}): React.ReactElement {
  const { rows, summary, columns } = props;
  const { shown, more: moreHere } = bounded(rows, MAX_FUNCTION_ROWS);
  // the kernel bounds the list too: what it left out is counted, never recounted here
  const more = moreHere + (summary.more_functions ?? 0);
  const hiddenDiffers =
    rows.slice(shown.length).filter(r => r.differs).length + (summary.more_differing ?? 0);
  const differing = summary.differing ?? 0;
  const labels = new Map(columns.map(p => [p.info.id, processLabel(p.info)]));
  return (
    <section className="jp-JaxInspect-section">
      <h3 className="jp-JaxInspect-sectionTitle">Compiles by function</h3>
      {differing > 0 && (
        <p className="jp-JaxInspect-warnText" data-testid="jaxinspect-processes-differs-summary">
          {`${plural(differing, 'function was', 'functions were')} compiled a different number ` +
            'of times across processes; processes that compile different programs usually hang ' +
            'at the next collective.'}
        </p>
      )}
      <div className="jp-JaxInspect-processesScroll">
        <table
          className="jp-JaxInspect-table jp-JaxInspect-cards jp-JaxInspect-processesCompiles"
          data-testid="jaxinspect-processes-compiles"
        >
          <thead>
            <tr>
              <th>function</th>
              {columns.map(p => (
                <th
                  key={p.info.id}
                  className={colClass(p, 'jp-JaxInspect-num')}
                  data-process-id={String(p.info.id)}
                >
                  {processLabel(p.info)}
                </th>
              ))}
              <th>latest reason</th>
            </tr>
          </thead>
          <tbody>
            {shown.map(r => (
              <tr
                key={r.name}
                className={r.differs ? 'jp-JaxInspect-processesDiffers' : undefined}
                data-testid="jaxinspect-processes-function"
                data-fun-name={r.name}
                data-differs={r.differs ? 'true' : 'false'}
              >
                <td className="jp-JaxInspect-processesFun jp-JaxInspect-cardName">
                  <span className="jp-JaxInspect-code" title={r.name}>
                    {r.name}
                  </span>
                  {r.differs && (
                    <span
                      className="jp-JaxInspect-processesDiffersMark"
                      data-testid="jaxinspect-processes-differs"
                    >
                      {DIFFERS_TEXT}
                    </span>
                  )}
                </td>
                {columns.map(p => {
                  const n = r.counts?.[String(p.info.id)] ?? 0;
                  return (
                    <td
                      key={p.info.id}
                      className={colClass(p, 'jp-JaxInspect-num')}
                      data-process-id={String(p.info.id)}
                      data-label={labels.get(p.info.id)}
                    >
                      {n > 0 ? String(n) : ''}
                    </td>
                  );
                })}
                <td
                  className="jp-JaxInspect-processesReason jp-JaxInspect-cardText"
                  data-label="latest reason"
                  title={
                    r.reason_from !== null && labels.has(r.reason_from)
                      ? `from ${labels.get(r.reason_from)}`
                      : undefined
                  }
                >
                  {r.reason ? <NamedText text={r.reason} /> : '–'}
                </td>
              </tr>
            ))}
            {more > 0 && (
              <tr className="jp-JaxInspect-more" data-testid="jaxinspect-processes-compiles-more">
                <td colSpan={columns.length + 2}>
                  {`${more} more` +
                    (hiddenDiffers > 0
                      ? ` (${hiddenDiffers} of them differ across processes)`
                      : '')}
                </td>
              </tr>
            )}
          </tbody>
        </table>
      </div>
    </section>
  );
}

/** The kernel's text of an allocator figure, blank where the allocator gave none. */
function blankIfNone(n: number | null | undefined, text: string): string {
  return typeof n === 'number' && Number.isFinite(n) ? text : '';
}

function MemoryTable(props: { rows: IMemoryRow[] }): React.ReactElement {
  const { shown, more } = bounded(props.rows, MAX_MEMORY_ROWS);
  return (
    <section className="jp-JaxInspect-section">
      <h3 className="jp-JaxInspect-sectionTitle">Memory per device</h3>
      <div className="jp-JaxInspect-processesScroll">
        <table
          className="jp-JaxInspect-table jp-JaxInspect-cards jp-JaxInspect-processesMemory"
          data-testid="jaxinspect-processes-memory"
        >
          <thead>
            <tr>
              <th>process</th>
              <th>device</th>
              <th className="jp-JaxInspect-num">arrays</th>
              <th className="jp-JaxInspect-num">bytes</th>
              <th className="jp-JaxInspect-num">in use</th>
              <th className="jp-JaxInspect-num">peak</th>
              <th className="jp-JaxInspect-num">limit</th>
            </tr>
          </thead>
          <tbody>
            {shown.map(({ process: p, device: d }, i) => (
              <tr
                key={`${p.info.id}:${i}`}
                className={p.info.state === 'lost' ? 'jp-JaxInspect-processLost' : undefined}
                data-testid="jaxinspect-processes-memory-row"
                data-process-id={String(p.info.id)}
                data-device={String(d.device)}
              >
                <td data-label="process">{processLabel(p.info)}</td>
                <td className="jp-JaxInspect-code jp-JaxInspect-cardName" title={String(d.device)}>
                  {String(d.device)}
                </td>
                <td className="jp-JaxInspect-num" data-label="arrays">
                  {String(d.arrays)}
                </td>
                <td className="jp-JaxInspect-num" data-label="bytes">
                  {d.bytes_text}
                </td>
                <td className="jp-JaxInspect-num" data-label="in use">
                  {blankIfNone(d.bytes_in_use, d.in_use_text)}
                </td>
                <td className="jp-JaxInspect-num" data-label="peak">
                  {blankIfNone(d.peak_bytes_in_use, d.peak_text)}
                </td>
                <td className="jp-JaxInspect-num" data-label="limit">
                  {blankIfNone(d.bytes_limit, d.limit_text)}
                </td>
              </tr>
            ))}
            {more > 0 && (
              <tr className="jp-JaxInspect-more" data-testid="jaxinspect-processes-memory-more">
                <td colSpan={7}>{`${more} more`}</td>
              </tr>
            )}
          </tbody>
        </table>
      </div>
    </section>
  );
}

function Alerts(props: {
  alerts: IProcessAlert[];
  processes: ProcessModel[];
}): React.ReactElement {
  const { shown, more } = bounded(props.alerts, MAX_ALERT_ROWS);
  const byId = new Map(props.processes.map(p => [p.info.id, p]));
  return (
    <section className="jp-JaxInspect-section" data-testid="jaxinspect-processes-alerts">
      <h3 className="jp-JaxInspect-sectionTitle">Alerts</h3>
      {shown.map(a => {
        const p = byId.get(a.source);
        const label = p ? processLabel(p.info) : 'p?';
        const warn = a.record.kind === 'compile_alert' || a.record.kind === 'buffer_alert';
        const hint = 'hint' in a.record ? a.record.hint : undefined;
        return (
          <div
            key={`${a.source}:${a.seq}`}
            className={'jp-JaxInspect-alert' + (warn ? '' : ' jp-JaxInspect-alert-error')}
            data-testid="jaxinspect-processes-alert"
            data-process-id={String(a.source)}
            data-kind={a.record.kind}
            title={typeof hint === 'string' && hint ? `fix: ${hint}` : undefined}
          >
            {`${label}: ${alertText(a)}`}
          </div>
        );
      })}
      {more > 0 && (
        <div className="jp-JaxInspect-more" data-testid="jaxinspect-processes-alert-more">
          {`${more} more`}
        </div>
      )}
    </section>
  );
}
