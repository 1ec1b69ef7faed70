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
 */

import * as React from 'react';

import type { IProcessAlert, ProcessModel, SessionModel } from '../model';
import type { IDeviceMemory, IProcessRecord } from '../protocol';
import { bounded, formatAge, formatBytes, formatClock, formatDuration } from './format';
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

/** "2 processes · 2 connected · 1 lost" (closed and lost only when there are some). */
export function processesSummary(processes: readonly ProcessModel[], droppedProcesses = 0): string {
  const byState = new Map<string, number>();
  for (const p of processes) {
    byState.set(p.info.state, (byState.get(p.info.state) ?? 0) + 1);
  }
  const parts = [
    plural(processes.length, 'process', 'processes'),
    `${byState.get('connected') ?? 0} connected`
  ];
  for (const state of ['closed', 'lost']) {
    const n = byState.get(state) ?? 0;
    if (n > 0) {
      parts.push(`${n} ${state}`);
    }
  }
  for (const [state, n] of byState) {
    if (state !== 'connected' && state !== 'closed' && state !== 'lost') {
      parts.push(`${n} ${state}`);
    }
  }
  let expected = 0;
  for (const p of processes) {
    if (!p.placeholder && p.info.process_count > expected) {
      expected = p.info.process_count;
    }
  }
  if (expected > 0 && expected !== processes.length) {
    parts.push(`job of ${expected}`);
  }
  if (droppedProcesses > 0) {
    parts.push(`${droppedProcesses} older not kept`);
  }
  return parts.join(' · ');
}

/** Process indices claimed by more than one connected process, ascending. */
export function duplicateIndices(
  processes: readonly ProcessModel[]
): { index: number; count: number }[] {
  const counts = new Map<number, number>();
  for (const p of processes) {
    if (p.info.state === 'connected' && p.info.process_index >= 0) {
      counts.set(p.info.process_index, (counts.get(p.info.process_index) ?? 0) + 1);
    }
  }
  return Array.from(counts, ([index, count]) => ({ index, count }))
    .filter(d => d.count > 1)
    .sort((a, b) => a.index - b.index);
}

/** The numbers of one process's column. */
export interface IProcessFacts {
  /** User (non-internal) compiles, summed over `compile_stats`. */
  compiles: number;
  /** JAX-internal eager compiles (not in `compiles`). */
  internalCompiles: number;
  /** Seconds spent compiling user functions. */
  compileTime: number;
  /** "fun_name: reason" of the newest user compile event with reasons; null when none. */
  lastRecompile: string | null;
  /** Sums over the devices of the latest `buffers`; null when the allocator gives none. */
  inUse: number | null;
  peak: number | null;
  /** Device labels of the process. */
  devices: string[];
  backend: string | null;
}

function sumKnown(devices: readonly IDeviceMemory[], key: keyof IDeviceMemory): number | null {
  let total: number | null = null;
  for (const d of devices) {
    const v = d[key];
    if (typeof v === 'number' && Number.isFinite(v)) {
      total = (total ?? 0) + v;
    }
  }
  return total;
}

export function processFacts(p: ProcessModel): IProcessFacts {
  let compiles = 0;
  let internalCompiles = 0;
  let compileTime = 0;
  for (const s of p.compileStats.values()) {
    if (s.internal) {
      internalCompiles += s.compiles ?? 0;
    } else {
      compiles += s.compiles ?? 0;
      compileTime += Number.isFinite(s.total_s) ? s.total_s : 0;
    }
  }
  let lastRecompile: string | null = null;
  const events = p.compiles.toArray();
  for (let i = events.length - 1; i >= 0; i--) {
    const e = events[i];
    if (!e.internal && Array.isArray(e.reasons) && e.reasons.length > 0) {
      lastRecompile = `${e.fun_name}: ${e.reasons[0].message}`;
      break;
    }
  }
  const devices = p.buffers && Array.isArray(p.buffers.devices) ? p.buffers.devices : [];
  let labels = Array.isArray(p.info.devices) ? p.info.devices : [];
  if (labels.length === 0 && p.env && Array.isArray(p.env.devices)) {
    labels = p.env.devices
      .filter(d => d.process_index === p.info.process_index)
      .map(d => d.label);
  }
  return {
    compiles,
    internalCompiles,
    compileTime,
    lastRecompile,
    inUse: sumKnown(devices, 'bytes_in_use'),
    peak: sumKnown(devices, 'peak_bytes_in_use'),
    devices: labels,
    backend: p.info.backend ?? p.env?.backend ?? null
  };
}

/** One row of "Compiles by function". */
export interface IFunctionRow {
  fun_name: string;
  /** User compiles of the function per process connection id (absent when 0). */
  counts: Map<number, number>;
  total: number;
  /** Whether the counts differ between the processes (0 for a process that never compiled it). */
  differs: boolean;
  /** The latest reason from the process with the most compiles of the function, or null. */
  reason: string | null;
  /** That process's connection id, or null. */
  reasonFrom: number | null;
}

/**
 * User functions by name across `processes`: those whose counts differ first (two processes
 * compiled them a different number of times), then most compiles first, then by name.
 * JAX-internal compiles are left out.
 */
export function compilesByFunction(processes: readonly ProcessModel[]): IFunctionRow[] {
  const rows = new Map<string, IFunctionRow>();
  // per (name, process): the newest stats, for the reason
  const latest = new Map<string, Map<number, { time: number; reason: string | null }>>();
  for (const p of processes) {
    const id = p.info.id;
    for (const s of p.compileStats.values()) {
      if (s.internal || typeof s.fun_name !== 'string') {
        continue;
      }
      let row = rows.get(s.fun_name);
      if (!row) {
        row = {
          fun_name: s.fun_name,
          counts: new Map(),
          total: 0,
          differs: false,
          reason: null,
          reasonFrom: null
        };
        rows.set(s.fun_name, row);
        latest.set(s.fun_name, new Map());
      }
      const n = s.compiles ?? 0;
      if (n > 0) {
        row.counts.set(id, (row.counts.get(id) ?? 0) + n);
        row.total += n;
      }
      const byProc = latest.get(s.fun_name)!;
      const held = byProc.get(id);
      const time = Number.isFinite(s.last_time) ? s.last_time : 0;
      if (!held || time >= held.time) {
        const reasons = Array.isArray(s.last_reasons) ? s.last_reasons : [];
        byProc.set(id, { time, reason: reasons.length > 0 ? reasons[0].message : null });
      }
    }
  }
  const out = Array.from(rows.values()).filter(r => r.total > 0);
  for (const row of out) {
    const seen = new Set<number>();
    for (const p of processes) {
      seen.add(row.counts.get(p.info.id) ?? 0);
    }
    row.differs = seen.size > 1;
    let best: number | null = null;
    let bestN = -1;
    for (const p of processes) {
      const n = row.counts.get(p.info.id) ?? 0;
      if (n > bestN) {
        best = p.info.id;
        bestN = n;
      }
    }
    if (best !== null) {
      row.reasonFrom = best;
      row.reason = latest.get(row.fun_name)?.get(best)?.reason ?? null;
    }
  }
  // Differing functions first (the headline signal), then the most compiled, then by name.
  out.sort(
    (a, b) =>
      Number(b.differs) - Number(a.differs) ||
      b.total - a.total ||
      (a.fun_name < b.fun_name ? -1 : a.fun_name > b.fun_name ? 1 : 0)
  );
  return out;
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
  const differs = compilesByFunction(processes).some(r => r.differs);
  return differs ? `${processes.length} ≠` : String(processes.length);
}

// ---------------------------------------------------------------- the tab

/** The tab (no hooks, so tests can call it directly). */
export function Processes(props: ITabProps): React.ReactElement {
  const { model, now } = props;
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
  const functions = compilesByFunction(processes);
  const memory = memoryRows(processes);
  const alerts = processAlerts(processes);
  const duplicates = duplicateIndices(processes);
  return (
    <div className="jp-JaxInspect-processes">
      <div className="jp-JaxInspect-processesSummary" data-testid="jaxinspect-processes-summary">
        {processesSummary(processes, model.processesDropped)}
      </div>
      {duplicates.map(d => (
        <p
          key={d.index}
          className="jp-JaxInspect-warnText"
          data-testid="jaxinspect-processes-duplicate"
          data-process-index={String(d.index)}
        >
          {`p${d.index} is claimed by ${d.count} connected processes`}
        </p>
      ))}
      <ProcessTable columns={columns} now={now} />
      {moreColumns > 0 && (
        <div className="jp-JaxInspect-more" data-testid="jaxinspect-processes-columns-more">
          {`${moreColumns} more ${moreColumns === 1 ? 'process' : 'processes'} not shown`}
        </div>
      )}
      {functions.length > 0 && <FunctionTable rows={functions} columns={columns} />}
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
  cell(p: ProcessModel, f: IProcessFacts, now: number): React.ReactNode;
  title?(p: ProcessModel, f: IProcessFacts): string | undefined;
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
    cell: (_p, f) =>
      `${f.backend ?? '?'} · ${plural(f.devices.length, 'device', 'devices')}`,
    title: (p, f) =>
      [p.info.jax_version ? `jax ${p.info.jax_version}` : '', f.devices.join(', ')]
        .filter(Boolean)
        .join(' · ') || undefined
  },
  {
    row: 'compiles',
    label: 'compiles',
    cell: (_p, f) => String(f.compiles),
    title: (_p, f) =>
      f.internalCompiles > 0 ? `plus ${f.internalCompiles} JAX-internal compiles` : undefined
  },
  {
    row: 'compile-time',
    label: 'compile time',
    cell: (_p, f) => formatDuration(f.compileTime)
  },
  {
    row: 'last-recompile',
    label: 'last recompile',
    cell: (_p, f) => f.lastRecompile ?? '–'
  },
  {
    row: 'arrays',
    label: 'live arrays',
    cell: p => (p.buffers ? String(p.buffers.arrays) : '–')
  },
  {
    row: 'bytes',
    label: 'live bytes',
    cell: p => (p.buffers ? formatBytes(p.buffers.bytes) : '–')
  },
  {
    row: 'in-use',
    label: 'device memory in use',
    cell: (p, f) => (!p.buffers ? '–' : f.inUse === null ? 'n/a (CPU)' : formatBytes(f.inUse))
  },
  {
    row: 'peak',
    label: 'peak',
    cell: (p, f) => (!p.buffers ? '–' : f.peak === null ? 'n/a (CPU)' : formatBytes(f.peak))
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

function ProcessTable(props: { columns: ProcessModel[]; now: number }): React.ReactElement {
  const { columns, now } = props;
  const facts = columns.map(processFacts);
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

function FunctionTable(props: {
  rows: IFunctionRow[];
  columns: ProcessModel[];
}): React.ReactElement {
  const { rows, columns } = props;
  const { shown, more } = bounded(rows, MAX_FUNCTION_ROWS);
  const hiddenDiffers = rows.slice(shown.length).filter(r => r.differs).length;
  const differing = rows.filter(r => r.differs).length;
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
          className="jp-JaxInspect-table jp-JaxInspect-processesCompiles"
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
                key={r.fun_name}
                className={r.differs ? 'jp-JaxInspect-processesDiffers' : undefined}
                data-testid="jaxinspect-processes-function"
                data-fun-name={r.fun_name}
                data-differs={r.differs ? 'true' : 'false'}
              >
                <td className="jp-JaxInspect-code jp-JaxInspect-processesFun">
                  {r.fun_name}
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
                  const n = r.counts.get(p.info.id) ?? 0;
                  return (
                    <td
                      key={p.info.id}
                      className={colClass(p, 'jp-JaxInspect-num')}
                      data-process-id={String(p.info.id)}
                    >
                      {n > 0 ? String(n) : ''}
                    </td>
                  );
                })}
                <td
                  className="jp-JaxInspect-processesReason"
                  title={
                    r.reasonFrom !== null && labels.has(r.reasonFrom)
                      ? `from ${labels.get(r.reasonFrom)}`
                      : undefined
                  }
                >
                  {r.reason ?? '–'}
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

function bytesOrBlank(n: number | null | undefined): string {
  return typeof n === 'number' && Number.isFinite(n) ? formatBytes(n) : '';
}

function MemoryTable(props: { rows: IMemoryRow[] }): React.ReactElement {
  const { shown, more } = bounded(props.rows, MAX_MEMORY_ROWS);
  return (
    <section className="jp-JaxInspect-section">
      <h3 className="jp-JaxInspect-sectionTitle">Memory per device</h3>
      <div className="jp-JaxInspect-processesScroll">
        <table
          className="jp-JaxInspect-table jp-JaxInspect-processesMemory"
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
                <td>{processLabel(p.info)}</td>
                <td className="jp-JaxInspect-code">{String(d.device)}</td>
                <td className="jp-JaxInspect-num">{String(d.arrays)}</td>
                <td className="jp-JaxInspect-num">{formatBytes(d.bytes)}</td>
                <td className="jp-JaxInspect-num">{bytesOrBlank(d.bytes_in_use)}</td>
                <td className="jp-JaxInspect-num">{bytesOrBlank(d.peak_bytes_in_use)}</td>
                <td className="jp-JaxInspect-num">{bytesOrBlank(d.bytes_limit)}</td>
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
