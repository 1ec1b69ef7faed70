/**
 * The per-notebook session model: what the sidebar knows about one kernel.
 *
 * It holds what arrives (latest by seq, replace by key, bounded rings) and derives nothing the
 * kernel decides: places ("cell [N] line L"), quantities as text, reason names and summaries,
 * whether a compile can be diffed, and which functions differ across processes all arrive as
 * record fields computed once in the kernel (jaxinspect/units.py, live/processtable.py).
 *
 * Only `@lumino/signaling` is imported so the model can be tested without JupyterLab.
 */

import { ISignal, Signal } from '@lumino/signaling';

import type {
  IBatchMessage,
  IBufferAlert,
  IBuffersRecord,
  ICompileAlert,
  ICompileEvent,
  ICompileStats,
  IEnvRecord,
  IHelloMessage,
  IInternalErrorRecord,
  IKeyReuse,
  IKeys,
  IParamsAlert,
  IParamsWatch,
  IProcessRecord,
  IRecord,
  IRemoteRecord,
  ISession,
  IStatusRecord,
  ProcessFacts,
  ProcessFunctionRow,
  ProcessesRecord
} from './protocol';

// The fields the kernel derives arrive typed (generated from jaxinspect/records.py): e.g.
// `ICompileEvent.location` / `total_text` / `diffable`, `IReason.label`, `ICompileStats.reasons_text`,
// the buffers' `*_text`, and the `processes` record below.

/** The `processes` record: the processes side by side, computed once by the collector. */
export type IProcessesSummary = ProcessesRecord;
/** One process's column (`ProcessFacts`). */
export type IProcessFacts = ProcessFacts;
/** One function across processes, with the kernel's divergence mark. */
export type IProcessFunctionRow = ProcessFunctionRow;

/** Connection state of a session, shown verbatim in the panel header. */
export type ConnectionState =
  | 'no-kernel'
  | 'connecting'
  | 'not-loaded'
  | 'ready'
  | 'version-mismatch'
  | 'dead'
  | 'error';

function isInt(x: unknown): x is number {
  return typeof x === 'number' && Number.isInteger(x);
}

/** A bounded FIFO buffer: pushing beyond `capacity` drops the oldest items. */
export class RingBuffer<T> {
  constructor(readonly capacity: number) {
    if (capacity < 1) {
      throw new Error('RingBuffer capacity must be at least 1');
    }
  }

  /** Items currently held, oldest first. */
  get length(): number {
    return this._items.length - this._start;
  }

  /** Items dropped because the buffer was full (plus any reported by the kernel). */
  get dropped(): number {
    return this._dropped;
  }

  push(item: T): void {
    this._items.push(item);
    if (this._items.length - this._start > this.capacity) {
      // Drop the oldest lazily; compact once a capacity's worth is dead (amortized O(1)).
      this._start++;
      this._dropped++;
      if (this._start >= this.capacity) {
        this._items = this._items.slice(this._start);
        this._start = 0;
      }
    }
  }

  /** Count items the kernel dropped before sending them. */
  addDropped(n: number): void {
    this._dropped += n;
  }

  /** A copy of the held items, oldest first. */
  toArray(): T[] {
    return this._items.slice(this._start);
  }

  clear(): void {
    this._items = [];
    this._start = 0;
    this._dropped = 0;
  }

  private _items: T[] = [];
  private _start = 0;
  private _dropped = 0;
}

/** An alert from a remote process, stamped with the order it arrived in. */
export type ProcessAlertRecord =
  | ICompileAlert
  | IBufferAlert
  | IParamsAlert
  | IKeyReuse
  | IInternalErrorRecord;

export interface IProcessAlert {
  /** Arrival order across all processes of a session (higher is newer). */
  seq: number;
  /** The process's connection id. */
  source: number;
  record: ProcessAlertRecord;
}

/**
 * What the sidebar knows about one remote process of a multi-process job: its `process` record
 * and the records it published, kept apart from the kernel's own state.
 */
export class ProcessModel {
  constructor(info: IProcessRecord, placeholder = false) {
    this.info = info;
    this.placeholder = placeholder;
  }

  /** The latest `process` record (or a placeholder until the first one arrives). */
  info: IProcessRecord;
  /** True while `info` is made up from a `remote` envelope (no `process` record seen yet). */
  placeholder: boolean;
  /** The latest `env` the process sent; null before the first. */
  env: IEnvRecord | null = null;
  /** The latest `status` by seq; null before the first. */
  status: IStatusRecord | null = null;
  /** Exact per-function aggregates, one per `fun_key` (the latest received). */
  readonly compileStats = new Map<string, ICompileStats>();
  /** The newest `COMPILE_CAPACITY` compile events, oldest first. */
  readonly compiles = new RingBuffer<ICompileEvent>(ProcessModel.COMPILE_CAPACITY);
  /** The latest `buffers` snapshot by seq; null before the first. */
  buffers: IBuffersRecord | null = null;
  /** The latest `keys` snapshot by seq; null before the first. */
  keys: IKeys | null = null;
  /** The latest `params_watch` sample per watch name (at most `PARAM_NAMES` names). */
  readonly paramWatches = new Map<string, IParamsWatch>();
  /** Records received from this process (as `remote` envelopes) since the session began. */
  records = 0;
  /** `Date.now()` when the sidebar last received a record about this process; null before. */
  lastReceived: number | null = null;

  /**
   * The newest `ALERT_CAPACITY` alerts (compile_alert, buffer_alert, params_alert, key_reuse,
   * internal_error), oldest first. A key_reuse or params_alert re-sent with a held id, or an
   * internal_error with a held `where`, replaces the held one and becomes the newest.
   */
  get alerts(): IProcessAlert[] {
    return this._alerts.slice();
  }

  /** Alerts received in all (held and dropped; a replaced one counts once). */
  get alertCount(): number {
    return this._alerts.length + this._alertsDropped;
  }

  /** Apply one record the process sent (the `record` of a `remote` envelope). */
  apply(record: IRecord, alertSeq: number): void {
    switch (record.kind) {
      case 'env':
        this.env = record as unknown as IEnvRecord;
        break;
      case 'status': {
        const status = record as unknown as IStatusRecord;
        if (!this.status || !(status.seq < this.status.seq)) {
          this.status = status;
        }
        break;
      }
      case 'compile':
        this.compiles.push(record as unknown as ICompileEvent);
        break;
      case 'compile_stats': {
        const stats = record as unknown as ICompileStats;
        if (typeof stats.fun_key === 'string') {
          this.compileStats.set(stats.fun_key, stats);
        }
        break;
      }
      case 'buffers': {
        const snap = record as unknown as IBuffersRecord;
        if (!this.buffers || !(snap.seq < this.buffers.seq)) {
          this.buffers = snap;
        }
        break;
      }
      case 'keys': {
        const keys = record as unknown as IKeys;
        if (!this.keys || !(keys.seq < this.keys.seq)) {
          this.keys = keys;
        }
        break;
      }
      case 'params_watch': {
        const sample = record as unknown as IParamsWatch;
        if (typeof sample.name !== 'string') {
          break;
        }
        const held = this.paramWatches.get(sample.name);
        if (held) {
          if (!(sample.seq < held.seq)) {
            this.paramWatches.set(sample.name, sample);
          }
        } else if (this.paramWatches.size < ProcessModel.PARAM_NAMES) {
          this.paramWatches.set(sample.name, sample);
        }
        break;
      }
      case 'compile_alert':
      case 'buffer_alert':
      case 'params_alert':
      case 'key_reuse':
      case 'internal_error':
        this._pushAlert(record as unknown as ProcessAlertRecord, alertSeq);
        break;
      case 'liveness':
      case 'stack':
        // Read every second / taken when stuck: the kernel's collector folds them into this
        // process's `ProcessFacts` (activity, where, stack), so nothing is kept here.
        break;
      default:
        // Other kinds are counted (`records`) but not kept.
        break;
    }
  }

  private _pushAlert(record: ProcessAlertRecord, seq: number): void {
    const alert: IProcessAlert = { seq, source: this.info.id, record };
    const at = this._alerts.findIndex(a => sameAlert(a.record, record));
    if (at >= 0) {
      this._alerts.splice(at, 1);
    }
    this._alerts.push(alert);
    if (this._alerts.length > ProcessModel.ALERT_CAPACITY) {
      const drop = this._alerts.length - ProcessModel.ALERT_CAPACITY;
      this._alerts.splice(0, drop);
      this._alertsDropped += drop;
    }
  }

  private _alerts: IProcessAlert[] = [];
  private _alertsDropped = 0;
}

/** Whether `b` is a re-send of `a`: a key_reuse with the same id, an internal_error at `where`. */
function sameAlert(a: ProcessAlertRecord, b: ProcessAlertRecord): boolean {
  if (a.kind !== b.kind) {
    return false;
  }
  if (a.kind === 'key_reuse') {
    return a.id === (b as IKeyReuse).id;
  }
  if (a.kind === 'params_alert') {
    // nan_guard's replay re-sends the alert with its cause under the same id
    return a.id === (b as IParamsAlert).id;
  }
  if (a.kind === 'internal_error') {
    return a.where === (b as IInternalErrorRecord).where;
  }
  return false;
}

export namespace ProcessModel {
  /** Compile events kept per process. */
  export const COMPILE_CAPACITY = 200;
  /** Alerts kept per process. */
  export const ALERT_CAPACITY = 50;
  /** Watch names whose latest `params_watch` is kept per process. */
  export const PARAM_NAMES = 64;

  /** The `info` of a process known only from a `remote` envelope. */
  export function placeholderInfo(
    source: number,
    processIndex: number,
    nowS: number
  ): IProcessRecord {
    return {
      kind: 'process',
      id: source,
      process_index: processIndex,
      process_count: 0,
      host: '?',
      pid: 0,
      state: 'connected',
      connected_at: nowS,
      last_seen: nowS,
      records: 0,
      dropped: 0,
      jax_version: null,
      backend: null,
      devices: [],
      note: null,
      engine_id: null,
      transport: 'loopback',
      doorbell: null,
      // unknown until its `process` record: the views fall back to "p<index>"
      label: ''
    };
  }
}

/** Everything the sidebar knows about one notebook's kernel. */
export class SessionModel {
  constructor(options: SessionModel.IOptions = {}) {
    this.name = options.name ?? '';
    this.ringCapacity = options.ringCapacity ?? SessionModel.DEFAULT_RING_CAPACITY;
    this.capacities = { ...SessionModel.DEFAULT_CAPACITIES, ...(options.capacities ?? {}) };
    this._now = options.now ?? (() => Date.now());
  }

  /** Display name of the notebook (its path or title). */
  name: string;
  readonly ringCapacity: number;
  /** Per-kind ring capacities; kinds not listed keep `ringCapacity` records. */
  readonly capacities: Readonly<{ [kind: string]: number }>;

  get stateChanged(): ISignal<this, void> {
    return this._stateChanged;
  }

  get state(): ConnectionState {
    return this._state;
  }

  /** A message for the user (mismatch, error, dead kernel); null when there is none. */
  get message(): string | null {
    return this._message;
  }

  get session(): ISession | null {
    return this._session;
  }

  get env(): IEnvRecord | null {
    return this._env;
  }

  get status(): IStatusRecord | null {
    return this._status;
  }

  /** `Date.now()` of the last message from the kernel; null before the first. */
  get lastUpdate(): number | null {
    return this._lastUpdate;
  }

  /** Sequence number of the last batch applied; null before the first. */
  get batchSeq(): number | null {
    return this._batchSeq;
  }

  /** Internal errors reported by the kernel (latest per `where`). */
  get internalErrors(): IInternalErrorRecord[] {
    return Array.from(this._internalErrors.values());
  }

  /** Internal error count: the kernel's total when known, else what we have seen. */
  get internalErrorCount(): number {
    if (this._status) {
      return this._status.internal_errors;
    }
    return this.internalErrors.reduce((n, e) => n + e.count, 0);
  }

  /** Compile events held (the newest `capacities.compile`), oldest first. */
  get compileEvents(): ICompileEvent[] {
    return this.records('compile') as unknown as ICompileEvent[];
  }

  /** Exact per-function compile aggregates, one per `fun_key` (the latest received). */
  get compileStats(): ICompileStats[] {
    return Array.from(this._compileStats.values());
  }

  /** Recompile-storm alerts held (the newest `capacities.compile_alert`), oldest first. */
  get compileAlerts(): ICompileAlert[] {
    return this.records('compile_alert') as unknown as ICompileAlert[];
  }

  /** The latest `buffers` snapshot of the kernel's live arrays; null before the first. */
  get buffers(): IBuffersRecord | null {
    return this._buffers;
  }

  /** Totals of the newest `BUFFER_HISTORY` snapshots, oldest first (for the sparkline). */
  get bufferHistory(): SessionModel.IBufferPoint[] {
    return this._bufferHistory.toArray();
  }

  /** Growth alerts held (the newest `capacities.buffer_alert`), oldest first. */
  get bufferAlerts(): IBufferAlert[] {
    return this.records('buffer_alert') as unknown as IBufferAlert[];
  }

  /**
   * Watched parameter trees by name, in the order first seen: the latest `params_watch` sample
   * and the newest `PARAM_HISTORY` samples as compact points (oldest first, for sparklines).
   */
  get paramWatches(): Map<string, SessionModel.IParamWatch> {
    const out = new Map<string, SessionModel.IParamWatch>();
    for (const [name, w] of this._paramWatches) {
      out.set(name, { latest: w.latest, history: w.history.toArray() });
    }
    return out;
  }

  /** The watched names, in the order first seen (cheaper than `paramWatches` for a count). */
  get paramWatchNames(): string[] {
    return Array.from(this._paramWatches.keys());
  }

  /** NaN/Inf alerts of watched trees held (the newest `capacities.params_alert`), oldest first. */
  get paramAlerts(): IParamsAlert[] {
    return this.records('params_alert') as unknown as IParamsAlert[];
  }

  /** The latest `keys` snapshot of the PRNG key lineage; null before the first. */
  get keys(): IKeys | null {
    return this._keys;
  }

  /**
   * Key reuses held (the newest `capacities.key_reuse` ids), oldest first; a reuse re-sent with
   * an id already held replaces it in place.
   */
  get keyReuses(): IKeyReuse[] {
    return this._keyReuses.slice();
  }

  /**
   * The remote processes publishing to this kernel's collector (at most `MAX_PROCESSES`), by
   * process_index then connection id. Their records never touch the kernel's own state above.
   */
  get processes(): ProcessModel[] {
    return Array.from(this._processes.values()).sort(
      (a, b) => a.info.process_index - b.info.process_index || a.info.id - b.info.id
    );
  }

  /** The remote process with connection id `id`, if held. */
  process(id: number): ProcessModel | undefined {
    return this._processes.get(id);
  }

  /** Processes dropped to keep at most `MAX_PROCESSES`. */
  get processesDropped(): number {
    return this._processesDropped;
  }

  /**
   * The latest `processes` record (by seq): the collector's side-by-side facts and compiles per
   * function with their divergence marks, as the kernel computed them; null before the first.
   */
  get processesSummary(): IProcessesSummary | null {
    return this._processesSummary;
  }

  /** Records of `kind` held in its ring buffer, oldest first. */
  records(kind: string): IRecord[] {
    return this._rings.get(kind)?.toArray() ?? [];
  }

  /** Records of `kind` dropped (by the ring or by the kernel). */
  dropped(kind: string): number {
    return this._rings.get(kind)?.dropped ?? 0;
  }

  /** Kinds that have a ring buffer. */
  get kinds(): string[] {
    return Array.from(this._rings.keys());
  }

  /** Set the connection state (and message); clears kernel data unless `ready`. */
  setState(state: ConnectionState, message: string | null = null): void {
    if (state !== 'ready') {
      this._clearData();
    }
    this._state = state;
    this._message = message;
    this._stateChanged.emit();
  }

  /** Apply the kernel's `hello`: the session becomes ready with a fresh env and status. */
  applyHello(msg: IHelloMessage): void {
    this._clearData();
    this._session = msg.session;
    this._env = msg.env;
    this._status = msg.status;
    this._state = 'ready';
    this._message = null;
    this._lastUpdate = this._now();
    this._stateChanged.emit();
  }

  /**
   * Apply a `batch`: `env`/`status`/`buffers` replace the latest, `compile_stats` replace the
   * previous one for their function, `params_watch` replace the latest of their name (and feed its
   * history), `keys` replace the latest, `key_reuse` replace the one with their id in place (else
   * append, bounded), `process` replace the process with their id (else add it, bounded),
   * `remote` go to their source process's `ProcessModel` only (a placeholder is made for an
   * unknown source), other kinds append to their ring.
   */
  applyBatch(msg: IBatchMessage): void {
    for (const record of msg.records ?? []) {
      if (!record || typeof record !== 'object' || typeof record.kind !== 'string') {
        continue;
      }
      switch (record.kind) {
        case 'env':
          this._env = record as unknown as IEnvRecord;
          break;
        case 'status': {
          const status = record as unknown as IStatusRecord;
          if (!this._status || status.seq >= this._status.seq) {
            this._status = status;
          }
          break;
        }
        case 'compile_stats': {
          // Exact aggregates: keyed by function, the latest replaces the previous one.
          const stats = record as unknown as ICompileStats;
          if (typeof stats.fun_key === 'string') {
            this._compileStats.set(stats.fun_key, stats);
          }
          break;
        }
        case 'buffers': {
          // Only the latest snapshot is kept; its totals feed the history.
          const snap = record as unknown as IBuffersRecord;
          if (!this._buffers || !(snap.seq < this._buffers.seq)) {
            this._buffers = snap;
            this._bufferHistory.push({
              seq: snap.seq,
              time: snap.time,
              device_bytes: snap.device_bytes,
              device_bytes_text: snap.device_bytes_text,
              arrays: snap.arrays
            });
          }
          break;
        }
        case 'processes': {
          // Derived by the kernel's collector: the newest replaces the previous one.
          const summary = record as unknown as IProcessesSummary;
          if (
            typeof summary.seq === 'number' &&
            (!this._processesSummary || !(summary.seq < this._processesSummary.seq))
          ) {
            this._processesSummary = summary;
          }
          break;
        }
        case 'params_watch':
          this._applyParamsWatch(record as unknown as IParamsWatch);
          break;
        case 'keys': {
          // Only the latest lineage snapshot is kept; a late one is dropped.
          const keys = record as unknown as IKeys;
          if (!this._keys || !(keys.seq < this._keys.seq)) {
            this._keys = keys;
          }
          break;
        }
        case 'key_reuse':
          this._applyKeyReuse(record as unknown as IKeyReuse);
          break;
        case 'process':
          this._applyProcess(record as unknown as IProcessRecord);
          break;
        case 'remote':
          // Another process's record: kept per process, never applied to this kernel's state.
          this._applyRemote(record as unknown as IRemoteRecord);
          break;
        case 'liveness':
        case 'stack':
          // This kernel's own main-thread readings: what the sidebar shows of them arrives in
          // the `processes` record's facts; a ring of them would only hold memory.
          break;
        case 'internal_error': {
          const err = record as unknown as IInternalErrorRecord;
          this._internalErrors.set(err.where, err);
          this._ring(record.kind).push(record as IRecord);
          break;
        }
        default:
          this._ring(record.kind).push(record as IRecord);
      }
    }
    for (const [kind, n] of Object.entries(msg.dropped ?? {})) {
      if (typeof n === 'number' && n > 0) {
        this._ring(kind).addDropped(n);
      }
    }
    this._batchSeq = msg.seq;
    this._lastUpdate = this._now();
    this._stateChanged.emit();
  }

  /** Apply the kernel's `goodbye` (`%unload_ext jaxinspect`). */
  applyGoodbye(reason: string): void {
    this.setState('not-loaded', reason || null);
  }

  /** Emit `stateChanged` without changing anything (e.g. to refresh derived text). */
  touch(): void {
    this._stateChanged.emit();
  }

  get isDisposed(): boolean {
    return this._isDisposed;
  }

  dispose(): void {
    if (this._isDisposed) {
      return;
    }
    this._isDisposed = true;
    this._clearData();
    Signal.clearData(this);
  }

  /** Keep a sample as the latest of its name and as a history point; drop late ones. */
  private _applyParamsWatch(sample: IParamsWatch): void {
    if (typeof sample.name !== 'string' || typeof sample.seq !== 'number') {
      return;
    }
    let watch = this._paramWatches.get(sample.name);
    if (!watch) {
      watch = {
        latest: sample,
        history: new RingBuffer<SessionModel.IParamPoint>(SessionModel.PARAM_HISTORY)
      };
      this._paramWatches.set(sample.name, watch);
    } else if (sample.seq <= watch.latest.seq) {
      return; // late or repeated: the history stays in seq order
    } else {
      watch.latest = sample;
    }
    const layers = new Map<string, SessionModel.IParamLayerPoint>();
    for (const layer of Array.isArray(sample.layers) ? sample.layers : []) {
      if (layer && typeof layer.path === 'string') {
        layers.set(layer.path, { norm: layer.norm ?? null, update: layer.update ?? null });
      }
    }
    watch.history.push({
      seq: sample.seq,
      step: sample.step ?? null,
      time: sample.time,
      norm: sample.norm ?? null,
      update: sample.update ?? null,
      norm_text: sample.norm_text,
      update_text: sample.update_text,
      layers
    });
  }

  /** A newer `process` record replaces the one with its id (keeping what that process sent). */
  private _applyProcess(info: IProcessRecord): void {
    if (!isInt(info.id)) {
      return;
    }
    const held = this._processes.get(info.id);
    if (held) {
      held.info = info;
      held.placeholder = false;
    } else {
      this._addProcess(new ProcessModel(info));
    }
  }

  /** Route a `remote` record to its process, creating a placeholder for an unknown source. */
  private _applyRemote(env: IRemoteRecord): void {
    const inner = env.record as IRecord | null | undefined;
    if (
      !isInt(env.source) ||
      !inner ||
      typeof inner !== 'object' ||
      Array.isArray(inner) ||
      typeof inner.kind !== 'string'
    ) {
      return;
    }
    let proc = this._processes.get(env.source);
    if (!proc) {
      const index = isInt(env.process_index) ? env.process_index : -1;
      proc = new ProcessModel(
        ProcessModel.placeholderInfo(env.source, index, this._now() / 1000),
        true
      );
      this._addProcess(proc);
    }
    proc.records++;
    proc.lastReceived = this._now();
    proc.apply(inner, ++this._alertSeq);
  }

  /** Add a process, dropping the oldest done/lost one (else the oldest) beyond the bound. */
  private _addProcess(proc: ProcessModel): void {
    this._processes.set(proc.info.id, proc);
    while (this._processes.size > SessionModel.MAX_PROCESSES) {
      let victim: number | undefined;
      for (const [id, p] of this._processes) {
        if (p !== proc && p.info.state !== 'connected') {
          victim = id;
          break;
        }
      }
      if (victim === undefined) {
        for (const id of this._processes.keys()) {
          if (id !== proc.info.id) {
            victim = id;
            break;
          }
        }
      }
      if (victim === undefined) {
        break;
      }
      this._processes.delete(victim);
      this._processesDropped++;
    }
  }

  /** Replace the held reuse with the same id in place, else append and drop the oldest. */
  private _applyKeyReuse(reuse: IKeyReuse): void {
    const at = this._keyReuses.findIndex(r => r.id === reuse.id);
    if (at >= 0) {
      this._keyReuses[at] = reuse;
      return;
    }
    this._keyReuses.push(reuse);
    const capacity = Math.max(1, this.capacities.key_reuse ?? this.ringCapacity);
    if (this._keyReuses.length > capacity) {
      const drop = this._keyReuses.length - capacity;
      this._keyReuses.splice(0, drop);
      this._ring('key_reuse').addDropped(drop);
    }
  }

  private _ring(kind: string): RingBuffer<IRecord> {
    let ring = this._rings.get(kind);
    if (!ring) {
      ring = new RingBuffer<IRecord>(this.capacities[kind] ?? this.ringCapacity);
      this._rings.set(kind, ring);
    }
    return ring;
  }

  private _clearData(): void {
    this._session = null;
    this._env = null;
    this._status = null;
    this._lastUpdate = null;
    this._batchSeq = null;
    this._rings.clear();
    this._internalErrors.clear();
    this._compileStats.clear();
    this._buffers = null;
    this._bufferHistory.clear();
    this._paramWatches.clear();
    this._keys = null;
    this._keyReuses = [];
    this._processes.clear();
    this._processesDropped = 0;
    this._processesSummary = null;
    this._alertSeq = 0;
  }

  private _state: ConnectionState = 'no-kernel';
  private _message: string | null = null;
  private _session: ISession | null = null;
  private _env: IEnvRecord | null = null;
  private _status: IStatusRecord | null = null;
  private _lastUpdate: number | null = null;
  private _batchSeq: number | null = null;
  private _rings = new Map<string, RingBuffer<IRecord>>();
  private _internalErrors = new Map<string, IInternalErrorRecord>();
  private _compileStats = new Map<string, ICompileStats>();
  private _buffers: IBuffersRecord | null = null;
  private _bufferHistory = new RingBuffer<SessionModel.IBufferPoint>(
    SessionModel.BUFFER_HISTORY
  );
  private _paramWatches = new Map<
    string,
    { latest: IParamsWatch; history: RingBuffer<SessionModel.IParamPoint> }
  >();
  private _keys: IKeys | null = null;
  private _keyReuses: IKeyReuse[] = [];
  private _processes = new Map<number, ProcessModel>();
  private _processesDropped = 0;
  private _processesSummary: IProcessesSummary | null = null;
  private _alertSeq = 0;
  private _now: () => number;
  private _isDisposed = false;
  private _stateChanged = new Signal<this, void>(this);
}

export namespace SessionModel {
  export const DEFAULT_RING_CAPACITY = 1000;

  /** Kinds that keep more (or fewer) records than `DEFAULT_RING_CAPACITY`. */
  export const DEFAULT_CAPACITIES: Readonly<{ [kind: string]: number }> = {
    compile: 2000,
    compile_alert: 100,
    buffer_alert: 100,
    params_alert: 100,
    key_reuse: 100
  };

  /** Remote processes kept (`processes`). */
  export const MAX_PROCESSES = 256;

  /** Snapshots whose totals `bufferHistory` keeps. */
  export const BUFFER_HISTORY = 120;

  /** The totals of one `buffers` snapshot. */
  export interface IBufferPoint {
    seq: number;
    /** Unix seconds. */
    time: number;
    device_bytes: number;
    /** `device_bytes` as the kernel wrote it. */
    device_bytes_text: string;
    arrays: number;
  }

  /** Samples per watched name that `paramWatches` keeps as history. */
  export const PARAM_HISTORY = 200;

  /** A module's numbers in one `params_watch` sample. */
  export interface IParamLayerPoint {
    /** null when a value was NaN/Inf. */
    norm: number | null;
    update: number | null;
  }

  /** The numbers of one `params_watch` sample, for sparklines. */
  export interface IParamPoint {
    seq: number;
    step: number | null;
    /** Unix seconds. */
    time: number;
    /** null when a value was NaN/Inf (the norm is not a number). */
    norm: number | null;
    update: number | null;
    /** `norm` and `update` as the kernel wrote them (for the sparklines' range labels). */
    norm_text: string;
    update_text: string;
    /** By module path (only the modules the sample listed). */
    layers: Map<string, IParamLayerPoint>;
  }

  /** A watched tree: its latest sample and the newest `PARAM_HISTORY` points, oldest first. */
  export interface IParamWatch {
    latest: IParamsWatch;
    history: IParamPoint[];
  }

  export interface IOptions {
    /** Display name of the notebook. */
    name?: string;
    /** Records kept per kind (default 1000). */
    ringCapacity?: number;
    /** Records kept for particular kinds, over `DEFAULT_CAPACITIES` and `ringCapacity`. */
    capacities?: { [kind: string]: number };
    /** Clock, for tests. */
    now?: () => number;
  }
}
