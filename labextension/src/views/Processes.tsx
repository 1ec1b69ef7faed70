/**
 * The Processes tab: the processes of a multi-process JAX job (jax.distributed, one process per
 * host) that publish their records to this kernel's collector
 * (`jaxinspect.collect_processes()` here, `jaxinspect.connect()` there).
 *
 * The kernel's diagnosis when a process is stuck (a banner naming it, where it waits and what the
 * others do; screen readers are told only who is stuck, when that changes), a summary line (what
 * the panel's heading and the cards do not already say), then one column per process side by
 * side (liveness: what its main thread does, where, its last step and compile; state, backend,
 * compiles, memory, alerts, records), stuck processes first, the processes' main-thread stacks
 * (open for a stuck one), the compiles per function across processes (a function compiled a
 * different number of times on different processes is marked: in a multi-controller job such
 * processes usually hang at the next collective), the memory per device and the newest alerts. A
 * process goes by its kernel label ("engine 0 · p0" for an ipyparallel engine, else "p0").
 * Strings from other processes are rendered as React text only; a place in an engine's cell is
 * not a link (its cell numbers are the engine's, not this notebook's).
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
import type { IDeviceMemory, IProcessRecord, StacksResult } from '../protocol';
import { bounded, formatAge, formatClock } from './format';
import { CellLocation } from './location';
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
/** The hint for ipyparallel engines, under the empty state (code parts shown as code). */
export const IPP_HINT_TEXT =
  "With ipyparallel: c = jaxinspect.collect_processes(rc) with the cluster's Client, then " +
  '%px %load_ext jaxinspect on the engines (no port, token or tunnel).';

// ---------------------------------------------------------------- derived data (pure)

function plural(n: number, one: string, many: string): string {
  return `${n} ${n === 1 ? one : many}`;
}

/** "p3", or "p?" when the index is unknown (a process known before its kernel label). */
export function processLabel(info: IProcessRecord): string {
  return Number.isInteger(info.process_index) && info.process_index >= 0
    ? `p${info.process_index}`
    : 'p?';
}

/**
 * The name a process goes by everywhere in the tab: the kernel's label from its facts ("engine 0 ·
 * p0" for an ipyparallel engine, "p0" otherwise), else its `process` record's, else "p<index>".
 */
export function labelOf(p: ProcessModel, f?: IProcessFacts | null): string {
  if (f && typeof f.label === 'string' && f.label) {
    return f.label;
  }
  const label = (p.info as { label?: unknown }).label;
  return typeof label === 'string' && label ? label : processLabel(p.info);
}

/** The connection ids of the processes the kernel marked stuck (`stuck`, or a fact's `stuck`). */
export function stuckIds(summary: IProcessesSummary | null): Set<number> {
  const ids = new Set<number>();
  for (const id of Array.isArray(summary?.stuck) ? summary!.stuck : []) {
    if (Number.isInteger(id)) {
      ids.add(id);
    }
  }
  for (const f of Array.isArray(summary?.processes) ? summary!.processes : []) {
    if (f && f.stuck === true && Number.isInteger(f.id)) {
      ids.add(f.id);
    }
  }
  return ids;
}

/** The processes with the stuck ones first (otherwise in the model's order). */
export function stuckFirst(processes: readonly ProcessModel[], stuck: Set<number>): ProcessModel[] {
  if (stuck.size === 0) {
    return processes.slice();
  }
  return [
    ...processes.filter(p => stuck.has(p.info.id)),
    ...processes.filter(p => !stuck.has(p.info.id))
  ];
}

/** How many processes the kernel marks stuck (0 without a model or a `processes` record). */
export function processesStuck(model: SessionModel | null): number {
  return model ? stuckIds(model.processesSummary).size : 0;
}

/** How the tab strip reads a badge: "3 ⚠ ≠" → "3 processes, 1 stuck, compile counts differ". */
export function processesBadgeTitle(badge: string, model: SessionModel | null = null): string {
  const differs = badge.includes('≠');
  const n = badge.replace(/[≠⚠]/g, '').trim();
  const stuck = processesStuck(model);
  return (
    `${n} ${n === '1' ? 'process' : 'processes'}` +
    (stuck > 0 ? `, ${stuck} stuck` : '') +
    (differs ? ', compile counts differ' : '')
  );
}

/** How an activity is marked: the colour (never alone: stuck and lost also carry the word). */
export type ActivityTone = 'error' | 'warn' | 'muted' | 'normal';

export function activityTone(activity: string | null | undefined): ActivityTone {
  switch (activity) {
    case 'stuck':
    case 'lost':
      return 'error';
    case 'waiting':
    case 'silent':
      return 'warn';
    case 'done':
    case 'idle':
      return 'muted';
    default:
      return 'normal';
  }
}

/** The card's mark for a stuck or lost process ("stuck", "lost"); null for the others. */
export function activityMark(activity: string | null | undefined): string | null {
  return activity === 'stuck' || activity === 'lost' ? activity : null;
}

/**
 * A stack's summary line: "engine 0 · p0 · taken 4.0 s ago when it looked stuck" (reason
 * "waiting") or "... when asked" (reason "asked").
 */
export function stackSummary(label: string, f: IProcessFacts, now: number): string {
  const parts = [label];
  const age = f.stack_age_s;
  let taken =
    typeof age === 'number' && Number.isFinite(age) ? `taken ${formatAge(now - age * 1000, now)}` : 'taken';
  if (f.stack_reason === 'waiting') {
    taken += ' when it looked stuck';
  } else if (f.stack_reason === 'asked') {
    taken += ' when asked';
  }
  parts.push(taken);
  return parts.join(' · ');
}

/**
 * What the screen-reader alert says while processes are stuck: "Stuck: engine 0 · p0, engine 1 ·
 * p1" (their labels, in the tab's order), '' when none is. It changes only when the set of stuck
 * processes changes, never with the banner's seconds, so it is announced once per change.
 */
export function stuckAnnouncement(
  processes: readonly ProcessModel[],
  stuck: Set<number>,
  labels: Map<number, string>
): string {
  const names = processes
    .filter(p => stuck.has(p.info.id))
    .map(p => labels.get(p.info.id) ?? processLabel(p.info));
  return names.length > 0 ? `Stuck: ${names.join(', ')}` : '';
}

/**
 * `text` as React text pieces with a line-break opportunity (`<wbr/>`) after each "/", so a path
 * like "python3.12/threading.py:655" wraps at its slashes before it is cut inside a word. Text
 * only: the pieces are React text nodes, never HTML.
 */
export function BreakAtSlashes(props: { text: string }): React.ReactElement {
  const pieces = props.text.split('/');
  return (
    <>
      {pieces.map((piece, i) =>
        i < pieces.length - 1 ? (
          <React.Fragment key={i}>
            {piece + '/'}
            <wbr />
          </React.Fragment>
        ) : (
          <React.Fragment key={i}>{piece}</React.Fragment>
        )
      )}
    </>
  );
}

/** "host:pid" ("?" for an unknown pid). */
export function hostText(info: IProcessRecord): string {
  return `${info.host}:${info.pid > 0 ? info.pid : '?'}`;
}

/**
 * The state line of a process: "connected · 2.1 s ago", "done · 5 min ago", or
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
 * The line under the panel's heading, which already says how many processes there are
 * ("Processes: 3 processes"): the kernel's summary ("3 processes · 2 connected · 1 lost · job of
 * 4") without that count, with what this sidebar dropped to stay bounded. With a single process
 * its card says its state and whether it is stuck, so "1 connected" / "1 stuck" are left out too.
 * '' when nothing is left to say (no line then: each fact shows once).
 */
export function processesSummary(
  summary: IProcessesSummary | null,
  processes: readonly ProcessModel[],
  droppedProcesses = 0
): string {
  const n = processes.length;
  let parts = (summary?.summary || '')
    .split(' · ')
    .map(part => part.trim())
    .filter(Boolean);
  if (parts[0] === plural(n, 'process', 'processes')) {
    parts = parts.slice(1);
  }
  if (n === 1) {
    parts = parts.filter(part => !/^1 [a-z]+$/.test(part));
  }
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

/**
 * The tab badge: the process count, with "⚠" while a process is stuck and "≠" when compile
 * counts differ (either turns the strip's count red); null for none.
 */
export function processesBadge(model: SessionModel | null): string | null {
  if (!model) {
    return null;
  }
  const processes = model.processes;
  if (processes.length === 0) {
    return null;
  }
  const stuck = processesStuck(model) > 0;
  const differs = (model.processesSummary?.differing ?? 0) > 0;
  return [String(processes.length), stuck ? '⚠' : '', differs ? '≠' : '']
    .filter(Boolean)
    .join(' ');
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
  const summary = model.processesSummary;
  const stuck = stuckIds(summary);
  const { shown: columns, more: moreColumns } = bounded(
    stuckFirst(processes, stuck),
    MAX_PROCESS_COLUMNS
  );
  const facts = factsById(summary);
  const labels = new Map(processes.map(p => [p.info.id, labelOf(p, facts.get(p.info.id))]));
  const functions = functionRows(summary);
  const memory = memoryRows(processes);
  const alerts = processAlerts(processes);
  const diagnosis = typeof summary?.diagnosis === 'string' ? summary.diagnosis : '';
  const summaryLine = processesSummary(summary, processes, model.processesDropped);
  // the banner's text changes every second ("has waited 5 s"): it is not a live region; this
  // hidden one is, and says only who is stuck
  const announcement = stuckAnnouncement(stuckFirst(processes, stuck), stuck, labels);
  const duplicates = Object.entries(summary?.duplicates ?? {}).map(([index, connected]) => ({
    index,
    connected
  }));
  return (
    <div className="jp-JaxInspect-processes">
      <div
        className="jp-JaxInspect-processesLive"
        role="alert"
        data-testid="jaxinspect-processes-diagnosis-live"
      >
        {announcement}
      </div>
      {diagnosis && (
        <div
          className="jp-JaxInspect-processesDiagnosis"
          data-testid="jaxinspect-processes-diagnosis"
        >
          <BreakAtSlashes text={diagnosis} />
        </div>
      )}
      {summaryLine && (
        <div className="jp-JaxInspect-processesSummary" data-testid="jaxinspect-processes-summary">
          {summaryLine}
        </div>
      )}
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
        <ProcessTable columns={columns} facts={facts} stuck={stuck} now={now} />
      ) : (
        <ProcessCards columns={columns} facts={facts} stuck={stuck} now={now} />
      )}
      {moreColumns > 0 && (
        <div className="jp-JaxInspect-more" data-testid="jaxinspect-processes-columns-more">
          {`${moreColumns} more ${moreColumns === 1 ? 'process' : 'processes'} not shown`}
        </div>
      )}
      {props.actions?.askStacks && processes.some(p => p.info.state === 'connected') && (
        <AskStacks
          ask={props.actions.askStacks}
          model={model}
          labels={labels}
        />
      )}
      <Stacks columns={columns} facts={facts} stuck={stuck} now={now} wide={!!wide} />
      {functions.length > 0 && (
        <FunctionTable rows={functions} summary={summary!} columns={columns} labels={labels} />
      )}
      {memory.length > 0 && <MemoryTable rows={memory} labels={labels} />}
      {alerts.length > 0 && <Alerts alerts={alerts} labels={labels} />}
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
      <p className="jp-JaxInspect-hint" data-testid="jaxinspect-processes-hint-ipp">
        {'With ipyparallel: '}
        <code>c = jaxinspect.collect_processes(rc)</code>
        {" with the cluster's Client, then "}
        <code>%px %load_ext jaxinspect</code>
        {' on the engines (no port, token or tunnel).'}
      </p>
    </div>
  );
}

/** The class of a state line: connected, done, lost, or other (never the process's string). */
function stateClass(state: string): string {
  const known = state === 'connected' || state === 'done' || state === 'lost' ? state : 'other';
  return `jp-JaxInspect-processState jp-JaxInspect-processState-${known}`;
}

function colClass(p: ProcessModel, base: string, stuck = false): string {
  return (
    base +
    (p.info.state === 'lost' ? ' jp-JaxInspect-processLost' : '') +
    (stuck ? ' jp-JaxInspect-processStuck' : '')
  );
}

/** The mark beside a process's label: "stuck" (the kernel says so) or "lost"; null otherwise. */
function processMark(p: ProcessModel, f: IProcessFacts | null, stuck: boolean): string | null {
  if (stuck) {
    return 'stuck';
  }
  return activityMark(f?.activity) ?? (p.info.state === 'lost' ? 'lost' : null);
}

/** The word that marks a stuck or lost process (its icon is drawn by the style). */
function Mark(props: { mark: string | null }): React.ReactElement | null {
  const { mark } = props;
  if (!mark) {
    return null;
  }
  return (
    <span
      className={`jp-JaxInspect-processMark jp-JaxInspect-processMark-${mark}`}
      data-testid="jaxinspect-process-mark"
    >
      {mark}
    </span>
  );
}

/** What the process's main thread does, in the kernel's words, marked by its activity. */
function Activity(props: { f: IProcessFacts }): React.ReactElement {
  const { f } = props;
  const activity = typeof f.activity === 'string' ? f.activity : '';
  const tone = activityTone(activity);
  return (
    <span
      className={`jp-JaxInspect-processActivity jp-JaxInspect-processActivity-${tone}`}
      data-testid="jaxinspect-process-activity"
      data-activity={activity}
      data-tone={tone}
    >
      {f.activity_text || activity || '–'}
    </span>
  );
}

/**
 * Where the main thread is: the user's innermost frame ("cell [3] line 7 (step)"; plain text, not
 * a link: an engine's cells are not this notebook's), its line's code on one line (cut with an
 * ellipsis, whole on hover), and the innermost frame when it is not the user's, muted.
 */
function Where(props: { f: IProcessFacts | null }): React.ReactElement {
  const { f } = props;
  const where = f?.where ?? null;
  const inner = typeof f?.inner === 'string' && f.inner ? f.inner : null;
  if (!f || (!where && !inner)) {
    return <>{'–'}</>;
  }
  const code = where && typeof where.code === 'string' && where.code ? where.code : null;
  return (
    <div className="jp-JaxInspect-processWhere" data-testid="jaxinspect-process-where">
      {where && (
        <CellLocation
          loc={where}
          actions={null}
          text={f.function ? `${where.text} (${f.function})` : where.text}
          className="jp-JaxInspect-processPlace"
          testid="jaxinspect-process-place"
        />
      )}
      {code && (
        <code
          className="jp-JaxInspect-code jp-JaxInspect-processCode"
          data-testid="jaxinspect-process-code"
          title={code}
        >
          {code}
        </code>
      )}
      {inner && (
        <span
          className="jp-JaxInspect-dim jp-JaxInspect-code jp-JaxInspect-processInner"
          data-testid="jaxinspect-process-inner"
          title={`innermost frame (not your code): ${inner}`}
        >
          {inner}
        </span>
      )}
    </div>
  );
}

/** A row of the side-by-side table (a label / value pair of a card). */
interface IRow {
  row: string;
  label: string;
  cell(p: ProcessModel, f: IProcessFacts | null, now: number): React.ReactNode;
  title?(p: ProcessModel, f: IProcessFacts | null): string | undefined;
}

/** What each process's main thread is doing, from the kernel's liveness facts. */
const LIVENESS_ROWS: IRow[] = [
  {
    row: 'activity',
    label: 'activity',
    cell: (_p, f) => (f ? <Activity f={f} /> : '–')
  },
  {
    row: 'where',
    label: 'where',
    cell: (_p, f) => <Where f={f} />
  },
  {
    row: 'last-step',
    label: 'last step',
    cell: (_p, f) => f?.last_step_text || '–'
  },
  {
    row: 'last-compile',
    label: 'last compile',
    cell: (_p, f) => f?.last_compile_text || '–'
  }
];

/** The rows of the side-by-side table: a label and each process's cell. */
const ROWS: IRow[] = [
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

/** The wide table's rows: the state, then the liveness rows, then the others. */
const TABLE_ROWS: IRow[] = [ROWS[0], ...LIVENESS_ROWS, ...ROWS.slice(1)];

function ProcessTable(props: {
  columns: ProcessModel[];
  facts: Map<number, IProcessFacts>;
  stuck: Set<number>;
  now: number;
}): React.ReactElement {
  const { columns, now, stuck } = props;
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
              {columns.map((p, i) => {
                const isStuck = stuck.has(p.info.id);
                return (
                  <th
                    key={p.info.id}
                    className={colClass(p, 'jp-JaxInspect-processCol', isStuck)}
                    data-testid={`jaxinspect-processes-col-${p.info.id}`}
                    data-process-id={String(p.info.id)}
                    data-process-index={String(p.info.process_index)}
                    data-state={p.info.state}
                    data-stuck={isStuck ? 'true' : 'false'}
                    title={`connection ${p.info.id}`}
                  >
                    <div className="jp-JaxInspect-processLabel">
                      {labelOf(p, facts[i])}
                      <Mark mark={processMark(p, facts[i], isStuck)} />
                    </div>
                    <div className="jp-JaxInspect-dim jp-JaxInspect-code">{hostText(p.info)}</div>
                  </th>
                );
              })}
            </tr>
          </thead>
          <tbody>
            {TABLE_ROWS.map(r => (
              <tr key={r.row} data-testid="jaxinspect-processes-row" data-row={r.row}>
                <th scope="row">{r.label}</th>
                {columns.map((p, i) => (
                  <td
                    key={p.info.id}
                    className={colClass(p, 'jp-JaxInspect-processCell', stuck.has(p.info.id))}
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

/** Rows of the side-by-side table as a card's label / value pairs. */
function CardPairs(props: {
  rows: IRow[];
  p: ProcessModel;
  f: IProcessFacts | null;
  now: number;
  className?: string;
  testid?: string;
}): React.ReactElement {
  const { rows, p, f, now } = props;
  return (
    <dl
      className={'jp-JaxInspect-cardPairs' + (props.className ? ' ' + props.className : '')}
      data-testid={props.testid}
      data-process-id={props.testid ? String(p.info.id) : undefined}
    >
      {rows.map(r => (
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
  );
}

/**
 * The narrow sidebar's form of the side-by-side table: a card per process (its label and host on
 * one line with its stuck / lost mark, then the same rows as label / value pairs: first its state
 * and liveness, then the rest), one under the other.
 */
function ProcessCards(props: {
  columns: ProcessModel[];
  facts: Map<number, IProcessFacts>;
  stuck: Set<number>;
  now: number;
}): React.ReactElement {
  const { columns, now, stuck } = props;
  return (
    <section className="jp-JaxInspect-section">
      <div className="jp-JaxInspect-processCards" data-testid="jaxinspect-processes-table">
        {columns.map(p => {
          const f = props.facts.get(p.info.id) ?? null;
          const host = hostText(p.info);
          const label = labelOf(p, f);
          const isStuck = stuck.has(p.info.id);
          return (
            <div
              key={p.info.id}
              className={colClass(p, 'jp-JaxInspect-card jp-JaxInspect-processCard', isStuck)}
              data-testid={`jaxinspect-processes-col-${p.info.id}`}
              data-process-id={String(p.info.id)}
              data-process-index={String(p.info.process_index)}
              data-state={p.info.state}
              data-stuck={isStuck ? 'true' : 'false'}
            >
              <div className="jp-JaxInspect-cardHead" title={`connection ${p.info.id}`}>
                <span className="jp-JaxInspect-processLabel" title={label}>
                  {label}
                </span>
                <span className="jp-JaxInspect-dim jp-JaxInspect-code" title={host}>
                  {host}
                </span>
                <Mark mark={processMark(p, f, isStuck)} />
              </div>
              <CardPairs
                rows={TABLE_ROWS.slice(0, LIVENESS_ROWS.length + 1)}
                p={p}
                f={f}
                now={now}
                className="jp-JaxInspect-processLiveness"
                testid="jaxinspect-process-liveness"
              />
              <CardPairs rows={TABLE_ROWS.slice(LIVENESS_ROWS.length + 1)} p={p} f={f} now={now} />
            </div>
          );
        })}
      </div>
    </section>
  );
}

/** How long the "Ask for stacks" button lets the processes answer. */
export const ASK_STACKS_TIMEOUT_S = 3;

/** Per kernel: whether an "Ask for stacks" request runs, and the note on the last one. */
const ASKS = new WeakMap<SessionModel, { asking: boolean; note: string | null }>();

/**
 * Ask every connected process for its stack through `model`'s kernel (`stacks` RPC); the note
 * is kept per kernel and the tab re-renders through `model.touch()`.
 */
export function askForStacks(
  ask: NonNullable<ITabProps['actions']['askStacks']>,
  model: SessionModel,
  labels: Map<number, string>
): Promise<void> {
  if (ASKS.get(model)?.asking) {
    return Promise.resolve();
  }
  ASKS.set(model, { asking: true, note: null });
  model.touch();
  let request: Promise<StacksResult>;
  try {
    request = Promise.resolve(ask({ timeout_s: ASK_STACKS_TIMEOUT_S }, model));
  } catch (err) {
    request = Promise.reject(err);
  }
  return request
    .then(result => askNote(result, labels))
    .catch(err => `Could not ask: ${err instanceof Error ? err.message : String(err)}`)
    .then(note => {
      ASKS.set(model, { asking: false, note });
      model.touch();
    });
}

/**
 * "Ask for stacks": rings every connected process's doorbell through the kernel's collector;
 * the stacks arrive with the next `processes` record, in the Stacks section. The note under the
 * button says who answered in time, as text. (No hooks: the state is kept per kernel above.)
 */
function AskStacks(props: {
  ask: NonNullable<ITabProps['actions']['askStacks']>;
  model: SessionModel;
  labels: Map<number, string>;
}): React.ReactElement {
  const { ask, model, labels } = props;
  const state = ASKS.get(model);
  return (
    <div className="jp-JaxInspect-processesAsk">
      <button
        className="jp-JaxInspect-button jp-mod-styled"
        data-testid="jaxinspect-processes-ask-stacks"
        disabled={!!state?.asking}
        title="Ask every connected process for its main thread's stack now (heard while it waits in a collective)"
        onClick={() => void askForStacks(ask, model, labels)}
      >
        {state?.asking ? 'Asking…' : 'Ask for stacks'}
      </button>
      {state?.note && (
        <p className="jp-JaxInspect-hint" data-testid="jaxinspect-processes-ask-result">
          {state.note}
        </p>
      )}
    </div>
  );
}

/** "2 of 2 answered" / "1 of 2 answered; engine 1 · p1 did not answer within 3 s", then problems. */
export function askNote(result: StacksResult, labels: Map<number, string>): string {
  const asked = Array.isArray(result?.asked) ? result.asked : [];
  const answered = new Set(Array.isArray(result?.answered) ? result.answered : []);
  const parts: string[] = [];
  if (asked.length > 0) {
    parts.push(`${asked.filter(id => answered.has(id)).length} of ${asked.length} answered`);
    const silent = asked.filter(id => !answered.has(id)).map(id => labels.get(id) ?? `process ${id}`);
    if (silent.length > 0) {
      const last = silent.length === 1 ? 'its last stack shows' : 'their last stacks show';
      parts.push(
        `${silent.join(', ')} did not answer within ${ASK_STACKS_TIMEOUT_S} s (${last}, with its age)`
      );
    }
  } else {
    parts.push('no process could be asked');
  }
  for (const problem of Array.isArray(result?.problems) ? result.problems : []) {
    parts.push(String(problem));
  }
  return parts.join('; ');
}

/**
 * The processes' newest main-thread stacks, one fold each (open for a stuck process), as the
 * kernel wrote them; in the wide view long lines scroll inside their block, in the narrow sidebar
 * they wrap. Processes without one are absent.
 */
function Stacks(props: {
  columns: ProcessModel[];
  facts: Map<number, IProcessFacts>;
  stuck: Set<number>;
  now: number;
  wide: boolean;
}): React.ReactElement | null {
  const { columns, facts, stuck, now, wide } = props;
  const shown: { p: ProcessModel; f: IProcessFacts; stack: string }[] = [];
  for (const p of columns) {
    const f = facts.get(p.info.id);
    if (f && typeof f.stack === 'string' && f.stack) {
      shown.push({ p, f, stack: f.stack });
    }
  }
  if (shown.length === 0) {
    return null;
  }
  return (
    <section className="jp-JaxInspect-section" data-testid="jaxinspect-processes-stacks">
      <h3 className="jp-JaxInspect-sectionTitle">Stacks</h3>
      <div
        className={
          'jp-JaxInspect-processStacks' + (wide ? ' jp-JaxInspect-processStacks-wide' : '')
        }
      >
        {shown.map(({ p, f, stack }) => {
          const isStuck = stuck.has(p.info.id);
          const summary = stackSummary(labelOf(p, f), f, now);
          return (
            <details
              key={p.info.id}
              className={
                'jp-JaxInspect-processStackFold' + (isStuck ? ' jp-JaxInspect-processStuck' : '')
              }
              data-testid="jaxinspect-process-stack"
              data-process-id={String(p.info.id)}
              data-stuck={isStuck ? 'true' : 'false'}
              open={isStuck}
            >
              <summary title={summary}>{summary}</summary>
              {wide ? (
                <pre className="jp-JaxInspect-processStack">{stack}</pre>
              ) : (
                <StackLines stack={stack} />
              )}
            </details>
          );
        })}
      </div>
    </section>
  );
}

/**
 * A stack in the narrow sidebar: one block per line that wraps (at spaces, then after a path's
 * "/"), a continued line 4 columns right of its line's indentation, so nothing is cut at the
 * sidebar's right edge; copied or read aloud it is still one line per frame line.
 */
function StackLines(props: { stack: string }): React.ReactElement {
  const lines = props.stack.replace(/\n$/, '').split('\n');
  return (
    <pre
      className="jp-JaxInspect-processStack jp-JaxInspect-processStack-wrap"
      data-testid="jaxinspect-process-stack-lines"
    >
      {lines.map((line, i) => {
        // a continued line starts 4 columns right of its own line's indentation (a number, never
        // the kernel's text, goes into the style)
        const hang = Math.min(line.length - line.trimStart().length, 40) + 4;
        return (
          <span
            key={i}
            className="jp-JaxInspect-processStackLine"
            style={{ paddingLeft: `${hang}ch`, textIndent: `-${hang}ch` }}
          >
            <BreakAtSlashes text={line} />
          </span>
        );
      })}
    </pre>
  );
}

function FunctionTable(props: {
  rows: IProcessFunctionRow[];
  summary: IProcessesSummary;
  columns: ProcessModel[];
  labels: Map<number, string>;
}): React.ReactElement {
  const { rows, summary, columns, labels } = props;
  const { shown, more: moreHere } = bounded(rows, MAX_FUNCTION_ROWS);
  // the kernel bounds the list too: what it left out is counted, never recounted here
  const more = moreHere + (summary.more_functions ?? 0);
  const hiddenDiffers =
    rows.slice(shown.length).filter(r => r.differs).length + (summary.more_differing ?? 0);
  const differing = summary.differing ?? 0;
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
                  {labels.get(p.info.id) ?? processLabel(p.info)}
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

function MemoryTable(props: { rows: IMemoryRow[]; labels: Map<number, string> }): React.ReactElement {
  const { shown, more } = bounded(props.rows, MAX_MEMORY_ROWS);
  const labelFor = (p: ProcessModel) => props.labels.get(p.info.id) ?? processLabel(p.info);
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
                <td data-label="process" title={labelFor(p)}>
                  {labelFor(p)}
                </td>
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
  labels: Map<number, string>;
}): React.ReactElement {
  const { shown, more } = bounded(props.alerts, MAX_ALERT_ROWS);
  return (
    <section className="jp-JaxInspect-section" data-testid="jaxinspect-processes-alerts">
      <h3 className="jp-JaxInspect-sectionTitle">Alerts</h3>
      {shown.map(a => {
        const label = props.labels.get(a.source) ?? 'p?';
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
