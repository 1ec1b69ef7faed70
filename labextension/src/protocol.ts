/**
 * The kernel ⇄ sidebar wire protocol: a typed mirror of `jaxinspect/protocol.py`.
 *
 * `SCHEMA` must stay deep-equal (as JSON) to Python's `SCHEMA`; `tests/test_protocol.py`
 * loads the compiled `lib/protocol.js` with bare Node and compares them. Keep this module
 * free of imports so that Node can load it on its own.
 */

export const PROTOCOL_VERSION = 1;
export const PUSH_TARGET = 'jaxinspect';
export const RPC_TARGET = 'jaxinspect.rpc';
/** The `client` name this extension sends in its comm_open data. */
export const CLIENT_NAME = 'jupyterlab-sidebar';

/**
 * Field types are small strings: "int", "float", "str", "bool", "any", "T|null", "list[T]",
 * "dict[str,T]" where T is a scalar type or a record name below.
 */
export const SCHEMA = {
  version: PROTOCOL_VERSION,
  targets: { push: PUSH_TARGET, rpc: RPC_TARGET },
  messages: {
    // frontend -> kernel: comm_open data for both targets
    open: { client: 'str' },
    // kernel -> frontend (push comm)
    announce: { jaxinspect_version: 'str' },
    hello: { session: 'Session', env: 'env', status: 'status' },
    batch: { seq: 'int', records: 'list[any]', dropped: 'dict[str,int]' },
    goodbye: { reason: 'str' },
    error: { code: 'str', message: 'str' },
    // rpc comm
    request: { id: 'int', method: 'str', params: 'any' },
    response: { id: 'int', ok: 'bool', result: 'any', error: 'str|null' }
  },
  methods: ['hello', 'ping', 'snapshot', 'compile_diff', 'interest', 'track_keys'],
  records: {
    Session: {
      jaxinspect_version: 'str',
      protocol: 'int',
      pid: 'int',
      python_version: 'str'
    },
    Device: {
      id: 'int',
      platform: 'str',
      device_kind: 'str',
      process_index: 'int',
      label: 'str'
    },
    env: {
      kind: 'str',
      jax_version: 'str|null',
      jaxlib_version: 'str|null',
      flax_version: 'str|null',
      python_version: 'str',
      backend: 'str|null',
      backend_initialized: 'bool',
      process_index: 'int',
      process_count: 'int',
      devices: 'list[Device]',
      device_count: 'int',
      note: 'str|null'
    },
    status: {
      kind: 'str',
      seq: 'int',
      time: 'float',
      busy: 'bool',
      execution_count: 'int',
      cell_elapsed_s: 'float|null',
      events_total: 'int',
      events_by_kind: 'dict[str,int]',
      subscribers: 'int',
      internal_errors: 'int'
    },
    internal_error: {
      kind: 'str',
      where: 'str',
      message: 'str',
      count: 'int'
    },
    Reason: {
      kind: 'str',
      path: 'str|null',
      before: 'str|null',
      after: 'str|null',
      message: 'str',
      recreated: 'bool',
      details: 'list[str]'
    },
    compile: {
      kind: 'str',
      id: 'int',
      fun_key: 'str',
      fun_name: 'str',
      defined_at: 'str|null',
      call_site: 'str|null',
      cell: 'int|null',
      trace_s: 'float|null',
      lower_s: 'float|null',
      compile_s: 'float|null',
      total_s: 'float',
      persistent_cache: 'str|null',
      time: 'float',
      thread: 'str',
      process_index: 'int',
      internal: 'bool',
      parent: 'str|null',
      api: 'str',
      signature: 'str',
      reasons: 'list[Reason]',
      out_shardings: 'list[str]'
    },
    compile_stats: {
      kind: 'str',
      fun_key: 'str',
      fun_name: 'str',
      defined_at: 'str|null',
      internal: 'bool',
      compiles: 'int',
      trace_s: 'float',
      lower_s: 'float',
      compile_s: 'float',
      total_s: 'float',
      reasons: 'dict[str,int]',
      last_reasons: 'list[Reason]',
      last_time: 'float'
    },
    compile_alert: {
      kind: 'str',
      fun_key: 'str',
      fun_name: 'str',
      compiles: 'int',
      reason_kind: 'str',
      message: 'str',
      hint: 'str',
      time: 'float'
    },
    // one device's share of the live arrays, plus what the allocator says (null on CPU)
    DeviceMemory: {
      device: 'str',
      id: 'int',
      platform: 'str',
      arrays: 'int',
      bytes: 'int',
      bytes_in_use: 'int|null',
      peak_bytes_in_use: 'int|null',
      bytes_limit: 'int|null'
    },
    // arrays grouped by who holds them (owner) or where they were created (site)
    BufferGroup: {
      name: 'str',
      arrays: 'int',
      bytes: 'int',
      example: 'str',
      site: 'str|null'
    },
    buffers: {
      kind: 'str',
      seq: 'int',
      time: 'float',
      trigger: 'str',
      arrays: 'int',
      bytes: 'int',
      device_bytes: 'int',
      deleted: 'int',
      devices: 'list[DeviceMemory]',
      dtypes: 'list[BufferGroup]',
      owners: 'list[BufferGroup]',
      sites: 'list[BufferGroup]',
      unowned: 'BufferGroup',
      attributed: 'bool',
      partial: 'bool',
      took_s: 'float',
      interval_s: 'float|null'
    },
    // one module (the leaf path minus its last component) of a watched tree
    ParamLayer: {
      path: 'str',
      leaves: 'int',
      values: 'int',
      norm: 'float|null',
      update: 'float|null',
      nan: 'int',
      inf: 'int',
      mean: 'float|null',
      std: 'float|null',
      min: 'float|null',
      max: 'float|null',
      zeros: 'float'
    },
    params_watch: {
      kind: 'str',
      name: 'str',
      seq: 'int',
      step: 'int|null',
      time: 'float',
      leaves: 'int',
      values: 'int',
      norm: 'float|null',
      update: 'float|null',
      nonfinite: 'int',
      layers: 'list[ParamLayer]',
      more_layers: 'int',
      took_s: 'float',
      interval_s: 'float|null',
      note: 'str|null'
    },
    params_alert: {
      kind: 'str',
      id: 'int',
      time: 'float',
      name: 'str',
      step: 'int|null',
      path: 'str',
      nan: 'int',
      inf: 'int',
      message: 'str',
      hint: 'str',
      last_finite_step: 'int|null',
      bad_leaves: 'int',
      total_leaves: 'int',
      leaves: 'list[str]',
      checked: 'str',
      cause: 'str|null'
    },
    // one key in the PRNG lineage tree (pre-order, chains flattened by the kernel);
    // state: fresh | consumed | split | reused
    KeyNode: {
      id: 'int',
      parent: 'int|null',
      depth: 'int',
      op: 'str',
      label: 'str',
      typed: 'bool',
      site: 'str|null',
      state: 'str',
      uses: 'int',
      used_by: 'list[str]',
      folded: 'int'
    },
    KeyCount: { name: 'str', site: 'str|null', count: 'int' },
    keys: {
      kind: 'str',
      seq: 'int',
      time: 'float',
      tracking: 'bool',
      on_reuse: 'str',
      created: 'int',
      derived: 'int',
      consumed: 'int',
      reuses: 'int',
      summarised: 'int',
      nodes: 'list[KeyNode]',
      more_nodes: 'int',
      consumers: 'list[KeyCount]',
      note: 'str|null'
    },
    // a PRNG key used twice (eager: at run time; jit: read from a traced jaxpr); a reuse that
    // happens again is re-sent with the same id and a higher count
    key_reuse: {
      kind: 'str',
      id: 'int',
      time: 'float',
      where: 'str',
      reuse: 'str',
      key: 'str',
      function: 'str|null',
      first_op: 'str',
      first_site: 'str|null',
      second_op: 'str',
      second_site: 'str|null',
      path: 'list[str]',
      count: 'int',
      message: 'str',
      hint: 'str'
    },
    // one process of a multi-process job that publishes to this kernel's collector
    // (`jaxinspect.collect_processes()` here, `jaxinspect.connect()` there); `id` is the
    // connection, unique even when two processes claim the same process_index.
    // state: connected | closed (said goodbye) | lost (connection dropped without goodbye)
    process: {
      kind: 'str',
      id: 'int',
      process_index: 'int',
      process_count: 'int',
      host: 'str',
      pid: 'int',
      state: 'str',
      connected_at: 'float',
      last_seen: 'float',
      records: 'int',
      dropped: 'int',
      jax_version: 'str|null',
      backend: 'str|null',
      devices: 'list[str]',
      note: 'str|null'
    },
    // a record (compile, compile_stats, compile_alert, buffers, buffer_alert, status, env,
    // params_watch, params_alert, key_reuse, keys, internal_error) from process `source`
    remote: {
      kind: 'str',
      source: 'int',
      process_index: 'int',
      record: 'any'
    },
    buffer_alert: {
      kind: 'str',
      id: 'int',
      time: 'float',
      group: 'str',
      name: 'str',
      arrays_delta: 'int',
      bytes_delta: 'int',
      snapshots: 'int',
      message: 'str',
      hint: 'str'
    }
  }
} as const;

/** Every message type named in `SCHEMA.messages`. */
export type MessageType = keyof typeof SCHEMA.messages;
/** RPC methods the kernel answers. */
export type Method = (typeof SCHEMA.methods)[number];

// ---------------------------------------------------------------- records

export interface ISession {
  jaxinspect_version: string;
  protocol: number;
  pid: number;
  python_version: string;
}

export interface IDevice {
  id: number;
  platform: string;
  device_kind: string;
  process_index: number;
  label: string;
}

export interface IEnvRecord {
  kind: 'env';
  jax_version: string | null;
  jaxlib_version: string | null;
  flax_version: string | null;
  python_version: string;
  backend: string | null;
  backend_initialized: boolean;
  process_index: number;
  process_count: number;
  devices: IDevice[];
  device_count: number;
  note: string | null;
}

export interface IStatusRecord {
  kind: 'status';
  seq: number;
  time: number;
  busy: boolean;
  execution_count: number;
  cell_elapsed_s: number | null;
  events_total: number;
  events_by_kind: { [kind: string]: number };
  subscribers: number;
  internal_errors: number;
}

export interface IInternalErrorRecord {
  kind: 'internal_error';
  where: string;
  message: string;
  count: number;
}

/**
 * Why a call missed jit's cache. `kind` is one of first_call, redefined, rewrapped, shape, dtype,
 * weak_type, structure, static, sharding, context, unknown, more; `path` names the argument
 * (e.g. "x" or "params['w']").
 */
export interface IReason {
  kind: string;
  path: string | null;
  before: string | null;
  after: string | null;
  /** Human-readable, e.g. "`x` changed shape (3,) → (8,)". */
  message: string;
  recreated: boolean;
  /** One line per difference when `message` summarises many (bounded). */
  details?: string[];
}

/** One jitted call that missed jit's cache. Times are seconds; null when not measured. */
export interface ICompileEvent {
  kind: 'compile';
  id: number;
  /** Stable per function; keys `compile_stats`. */
  fun_key: string;
  fun_name: string;
  /** "file:line" of the function's definition. */
  defined_at: string | null;
  /** "file:line" of the call that compiled. */
  call_site: string | null;
  /** Notebook execution count of the cell that made the call, or null. */
  cell: number | null;
  trace_s: number | null;
  lower_s: number | null;
  compile_s: number | null;
  total_s: number;
  /** "hit", "miss", or null when the persistent cache is off. */
  persistent_cache: string | null;
  /** Unix seconds. */
  time: number;
  thread: string;
  process_index: number;
  /** A JAX-internal eager compile (e.g. `broadcast_in_dim`); hidden by default. */
  internal: boolean;
  /** The outer function when traced nested inside another. */
  parent: string | null;
  /** "call" or "trace". */
  api: string;
  /** Short text of the argument types. */
  signature: string;
  reasons: IReason[];
  /** Each output's sharding ("unspecified": the compiler picks); older kernels omit it. */
  out_shardings?: string[];
}

/** Exact per-function aggregate; a newer one with the same `fun_key` replaces the older. */
export interface ICompileStats {
  kind: 'compile_stats';
  fun_key: string;
  fun_name: string;
  defined_at: string | null;
  internal: boolean;
  compiles: number;
  trace_s: number;
  lower_s: number;
  compile_s: number;
  total_s: number;
  /** Compile counts by reason kind. */
  reasons: { [kind: string]: number };
  last_reasons: IReason[];
  last_time: number;
}

/** A recompile storm: a function that keeps recompiling, with a one-line fix. */
export interface ICompileAlert {
  kind: 'compile_alert';
  fun_key: string;
  fun_name: string;
  compiles: number;
  reason_kind: string;
  message: string;
  hint: string;
  time: number;
}

/** One device's share of the live arrays, plus the allocator's numbers (null on CPU). */
export interface IDeviceMemory {
  /** A label such as "cpu:0" or "cuda:0". */
  device: string;
  id: number;
  platform: string;
  /** Live arrays with a shard on this device. */
  arrays: number;
  /** Bytes of live arrays on this device. */
  bytes: number;
  bytes_in_use: number | null;
  peak_bytes_in_use: number | null;
  bytes_limit: number | null;
}

/**
 * Live arrays grouped by who holds them (an owner path such as "state.params['Dense_0']['kernel']"
 * or "losses"), where they were created ("cell [5] line 3 (train)") or by dtype ("float32").
 */
export interface IBufferGroup {
  name: string;
  arrays: number;
  bytes: number;
  /** One array of the group, e.g. "f32[1024,1024]". */
  example: string;
  /** Creation site, or null when unknown. */
  site: string | null;
}

/** One snapshot of the kernel's live device arrays. */
export interface IBuffersRecord {
  kind: 'buffers';
  seq: number;
  /** Unix seconds. */
  time: number;
  /** "sampler", "cell" or "api". */
  trigger: string;
  arrays: number;
  /** Logical bytes of all live arrays. */
  bytes: number;
  /** Bytes held on devices (every shard counted). */
  device_bytes: number;
  /** Arrays deleted but still referenced. */
  deleted: number;
  devices: IDeviceMemory[];
  /** Largest first, bounded by the kernel. */
  dtypes: IBufferGroup[];
  owners: IBufferGroup[];
  sites: IBufferGroup[];
  /** Arrays no variable holds. */
  unowned: IBufferGroup;
  /** Whether the owner walk ran for this snapshot. */
  attributed: boolean;
  /** Whether the owner walk stopped at its budget. */
  partial: boolean;
  took_s: number;
  /** The sampler's interval, or null when it is off. */
  interval_s: number | null;
}

/** A group of arrays that keeps growing, with a one-line fix. */
export interface IBufferAlert {
  kind: 'buffer_alert';
  id: number;
  time: number;
  /** "owner" or "site". */
  group: string;
  name: string;
  arrays_delta: number;
  bytes_delta: number;
  /** Over how many snapshots it grew. */
  snapshots: number;
  message: string;
  hint: string;
}

/**
 * One module of a watched parameter tree: the leaf paths minus their last component, e.g.
 * ".blocks[3].lin" or "['params']['Dense_0']".
 */
export interface IParamLayer {
  path: string;
  leaves: number;
  /** Scalars in the module's leaves. */
  values: number;
  /** L2 norm over the module's leaves; null when a value is NaN/Inf. */
  norm: number | null;
  /** ‖Δθ‖/‖θ‖ since the previous sample (estimated from a sketch); null for the first. */
  update: number | null;
  /** Leaves holding NaN / Inf. */
  nan: number;
  inf: number;
  /** Over the module's finite values: mean, standard deviation, min, max (null: none). */
  mean: number | null;
  std: number | null;
  min: number | null;
  max: number | null;
  /** Fraction of exact zeros. */
  zeros: number;
}

/** One sample of a parameter tree watched under `name` (`jaxinspect.watch`). */
export interface IParamsWatch {
  kind: 'params_watch';
  /** The watch name, e.g. "params". */
  name: string;
  /** Per name, increasing. */
  seq: number;
  /** The training step passed to `jaxinspect.watch`, or null. */
  step: number | null;
  /** Unix seconds. */
  time: number;
  leaves: number;
  /** Scalars in the whole tree. */
  values: number;
  /** Global L2 norm; null when a value is NaN/Inf (the norm is not a number). */
  norm: number | null;
  /** Global ‖Δθ‖/‖θ‖ since the previous sample of this name; null for the first. */
  update: number | null;
  /** Leaves holding NaN or Inf. */
  nonfinite: number;
  /** Per module, in tree order, at most 64. */
  layers: IParamLayer[];
  /** Modules left out of `layers`. */
  more_layers: number;
  took_s: number;
  /** The effective sampling interval, or null. */
  interval_s: number | null;
  /** e.g. "leaves were donated or deleted: sample skipped", or null. */
  note: string | null;
}

/** A watched tree's leaf turned NaN/Inf, with a one-line fix. */
export interface IParamsAlert {
  kind: 'params_alert';
  id: number;
  time: number;
  /** The watch name. */
  name: string;
  step: number | null;
  /** The first non-finite leaf (tree order) at the first non-finite step. */
  path: string;
  nan: number;
  inf: number;
  /** One line: the first non-finite step, the last finite one, what was checked, the leaves. */
  message: string;
  hint: string;
  /** The last step checked and found finite, or null. */
  last_finite_step: number | null;
  /** Non-finite leaves at that step, of `total_leaves` floating leaves. */
  bad_leaves: number;
  total_leaves: number;
  /** Their paths (at most 8). */
  leaves: string[];
  /** Which watch() calls were checked, e.g. 'every watched step checked'. */
  checked: string;
  /** The operation and line that made the first NaN (nan_guard's replay), or null. */
  cause: string | null;
}

/** One key in the PRNG lineage tree (`keys.nodes`, pre-order). */
export interface IKeyNode {
  id: number;
  /** The key it was derived from, or null for a root. */
  parent: number | null;
  /** Indentation level (the kernel has already flattened `key, sub = split(key)` chains). */
  depth: number;
  /** e.g. "key", "PRNGKey", "split", "fold_in", "clone", "rngs.dropout". */
  op: string;
  /** e.g. "key(0)" or "split[1] of #3". */
  label: string;
  /** A typed key (`jax.random.key`) rather than a raw uint32 one. */
  typed: boolean;
  /** Where it was made, e.g. "cell 3, line 4", or null. */
  site: string | null;
  /** "fresh", "consumed", "split" or "reused". */
  state: string;
  /** Sampler uses. */
  uses: number;
  /** Short consumer strings, e.g. "normal @ cell 3, line 5" (maybe fewer than `uses`). */
  used_by: string[];
  /** Descendants hidden under this row. */
  folded: number;
}

/** Sampler uses counted by op and site. */
export interface IKeyCount {
  name: string;
  site: string | null;
  count: number;
}

/** A snapshot of the PRNG key lineage (pushed at most once a second while it changes). */
export interface IKeys {
  kind: 'keys';
  seq: number;
  /** Unix seconds. */
  time: number;
  /** Whether `jaxinspect.track_keys` is on. */
  tracking: boolean;
  /** "warn", "error" or "ignore". */
  on_reuse: string;
  /** Root keys made. */
  created: number;
  /** split / fold_in / clone outputs. */
  derived: number;
  /** Sampler uses. */
  consumed: number;
  reuses: number;
  /** Old keys dropped from the tree, only counted. */
  summarised: number;
  /** The lineage tree in pre-order. */
  nodes: IKeyNode[];
  /** Rows not sent. */
  more_nodes: number;
  consumers: IKeyCount[];
  note: string | null;
}

/** A PRNG key used twice; re-sent with the same `id` and a higher `count` when it happens again. */
export interface IKeyReuse {
  kind: 'key_reuse';
  id: number;
  time: number;
  /** "eager" (seen at run time) or "jit" (read from a traced jaxpr). */
  where: string;
  /** e.g. "consumed twice", "consumed then split", "split twice", "derived again". */
  reuse: string;
  /** The key's label. */
  key: string;
  /** The jitted function, for `where` "jit"; else null. */
  function: string | null;
  first_op: string;
  first_site: string | null;
  second_op: string;
  second_site: string | null;
  /** Lineage root → key. */
  path: string[];
  /** How often it happened. */
  count: number;
  message: string;
  hint: string;
}

/**
 * One process of a multi-process job publishing to this kernel's collector. A newer record with
 * the same `id` replaces the older one.
 */
export interface IProcessRecord {
  kind: 'process';
  /** The collector's connection id: unique, even when two processes claim one process_index. */
  id: number;
  /** `jax.process_index()` of the process. */
  process_index: number;
  /** `jax.process_count()` of the process. */
  process_count: number;
  host: string;
  pid: number;
  /** "connected", "closed" (said goodbye) or "lost" (connection dropped without goodbye). */
  state: string;
  /** Unix seconds. */
  connected_at: number;
  /** Unix seconds of the last message from the process. */
  last_seen: number;
  /** Records the collector received from the process. */
  records: number;
  /** Records the process or the collector dropped. */
  dropped: number;
  jax_version: string | null;
  backend: string | null;
  /** Labels of the process's devices. */
  devices: string[];
  note: string | null;
}

/**
 * A record from process `source` (a `process` record's `id`), as that process sent it: one of
 * compile, compile_stats, compile_alert, buffers, buffer_alert, status, env, params_watch,
 * params_alert, key_reuse, keys, internal_error. Never applied to the kernel's own state.
 */
export interface IRemoteRecord {
  kind: 'remote';
  source: number;
  process_index: number;
  record: AnyRecord;
}

/** Any record pushed in a batch; kinds not listed in `SCHEMA.records` are kept as-is. */
export interface IRecord {
  kind: string;
  [field: string]: unknown;
}

/** A record in a batch: one of the kinds in `SCHEMA.records`, or any other kind. */
export type AnyRecord =
  | IEnvRecord
  | IStatusRecord
  | IInternalErrorRecord
  | ICompileEvent
  | ICompileStats
  | ICompileAlert
  | IBuffersRecord
  | IBufferAlert
  | IParamsWatch
  | IParamsAlert
  | IKeys
  | IKeyReuse
  | IProcessRecord
  | IRemoteRecord
  | IRecord;

// ---------------------------------------------------------------- messages

export interface IMessageBase {
  v: number;
  type: MessageType;
}

export interface IOpenMessage extends IMessageBase {
  type: 'open';
  client: string;
}

export interface IAnnounceMessage extends IMessageBase {
  type: 'announce';
  jaxinspect_version: string;
}

export interface IHelloMessage extends IMessageBase {
  type: 'hello';
  session: ISession;
  env: IEnvRecord;
  status: IStatusRecord;
}

export interface IBatchMessage extends IMessageBase {
  type: 'batch';
  seq: number;
  records: AnyRecord[];
  dropped: { [kind: string]: number };
}

export interface IGoodbyeMessage extends IMessageBase {
  type: 'goodbye';
  reason: string;
}

export interface IErrorMessage extends IMessageBase {
  type: 'error';
  code: string;
  message: string;
}

export interface IRequest extends IMessageBase {
  type: 'request';
  id: number;
  method: string;
  params: unknown;
}

export interface IResponse extends IMessageBase {
  type: 'response';
  id: number;
  ok: boolean;
  result: unknown;
  error: string | null;
}

export type Message =
  | IOpenMessage
  | IAnnounceMessage
  | IHelloMessage
  | IBatchMessage
  | IGoodbyeMessage
  | IErrorMessage
  | IRequest
  | IResponse;

/** The error code the kernel sends when the versions disagree. */
export const VERSION_MISMATCH = 'version_mismatch';

/** Result of `parseMessage`. */
export type ParseResult =
  | { ok: true; msg: Message }
  | { ok: false; error: string; versionMismatch: boolean };

/** The message shown when the kernel speaks protocol `kernelVersion`. */
export function versionMismatchMessage(kernelVersion: unknown): string {
  return (
    `jaxinspect: this kernel's jaxinspect speaks protocol v${String(kernelVersion)} ` +
    `but the JupyterLab extension speaks v${PROTOCOL_VERSION}; install the same jaxinspect ` +
    "version in the kernel's environment and in JupyterLab's, then restart the kernel " +
    'and reload the page.'
  );
}

/**
 * Check the envelope of a message from the kernel: an object with our `v` and a known `type`
 * whose fields are present. Field values are not type-checked beyond that.
 */
export function parseMessage(data: unknown): ParseResult {
  if (typeof data !== 'object' || data === null || Array.isArray(data)) {
    return {
      ok: false,
      error: 'jaxinspect: the kernel sent a message that is not an object.',
      versionMismatch: false
    };
  }
  const obj = data as { [key: string]: unknown };
  if (!('v' in obj)) {
    return {
      ok: false,
      error:
        'jaxinspect: the kernel sent a message without a protocol version; ' +
        "update jaxinspect in the kernel's environment and restart the kernel.",
      versionMismatch: true
    };
  }
  if (obj.v !== PROTOCOL_VERSION) {
    return {
      ok: false,
      error: versionMismatchMessage(obj.v),
      versionMismatch: true
    };
  }
  const type = obj.type;
  if (
    typeof type !== 'string' ||
    !Object.prototype.hasOwnProperty.call(SCHEMA.messages, type)
  ) {
    return {
      ok: false,
      error: `jaxinspect: unknown message type ${JSON.stringify(type)}.`,
      versionMismatch: false
    };
  }
  const spec = SCHEMA.messages[type as MessageType];
  const missing = Object.keys(spec).filter(k => !(k in obj));
  if (missing.length) {
    return {
      ok: false,
      error: `jaxinspect: message ${JSON.stringify(type)} is missing ${missing.join(', ')}.`,
      versionMismatch: false
    };
  }
  return { ok: true, msg: obj as unknown as Message };
}

/** Build a frontend → kernel message of `type` with the protocol version set. */
export function makeMessage<T extends Message>(
  type: T['type'],
  fields: Omit<T, 'v' | 'type'>
): T {
  return { v: PROTOCOL_VERSION, type, ...fields } as T;
}
