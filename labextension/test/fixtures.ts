/** Shared wire fixtures for the tests. */

import type { IProcessFacts, IProcessFunctionRow, IProcessesSummary } from '../src/model';

import { PROTOCOL_VERSION } from '../src/protocol';
import type {
  IBatchMessage,
  IBufferAlert,
  IBufferGroup,
  IBuffersRecord,
  IDeviceMemory,
  ICompileAlert,
  ICompileEvent,
  ICompileStats,
  IEnvRecord,
  ILocation,
  IReason,
  IHelloMessage,
  IKeyCount,
  IKeyNode,
  IKeyReuse,
  IKeys,
  IParamLayer,
  IParamsAlert,
  IParamsWatch,
  IProcessRecord,
  IRemoteRecord,
  IStatusRecord
} from '../src/protocol';
import type {
  LivenessRecord as ILivenessRecord,
  StackRecord as IStackRecord
} from '../src/generated/wire';

export function env(overrides: Partial<IEnvRecord> = {}): IEnvRecord {
  return {
    kind: 'env',
    jax_version: '0.12.0.1',
    jaxlib_version: '0.12.0.1',
    flax_version: null,
    python_version: '3.12.1',
    backend: 'cpu',
    backend_initialized: true,
    process_index: 0,
    process_count: 1,
    devices: [
      { id: 0, platform: 'cpu', device_kind: 'cpu', process_index: 0, label: 'TFRT_CPU_0' },
      { id: 1, platform: 'cpu', device_kind: 'cpu', process_index: 0, label: 'TFRT_CPU_1' }
    ],
    device_count: 2,
    note: null,
    ...overrides
  };
}

export function status(overrides: Partial<IStatusRecord> = {}): IStatusRecord {
  return {
    kind: 'status',
    seq: 1,
    time: 1700000000.5,
    busy: false,
    execution_count: 3,
    cell_elapsed_s: null,
    events_total: 0,
    events_by_kind: {},
    subscribers: 1,
    internal_errors: 0,
    cell_elapsed_text: '–',
    ...overrides
  };
}

export function hello(overrides: Partial<IHelloMessage> = {}): IHelloMessage {
  return {
    v: PROTOCOL_VERSION,
    type: 'hello',
    session: {
      jaxinspect_version: '0.1.0',
      protocol: PROTOCOL_VERSION,
      pid: 1234,
      python_version: '3.12.1'
    },
    env: env(),
    status: status(),
    ...overrides
  };
}

export function batch(
  seq: number,
  records: IBatchMessage['records'],
  dropped: IBatchMessage['dropped'] = {}
): IBatchMessage {
  return { v: PROTOCOL_VERSION, type: 'batch', seq, records, dropped };
}

export function reason(overrides: Partial<IReason> = {}): IReason {
  return {
    kind: 'shape',
    path: 'x',
    before: '(3,)',
    after: '(4,)',
    message: '`x` changed shape (3,) → (4,)',
    recreated: false,
    label: 'shape',
    ...overrides
  };
}

export const FIRST_CALL: IReason = {
  kind: 'first_call',
  path: null,
  before: null,
  after: null,
  message: 'first call',
  recreated: false,
  label: 'first call'
};

/** A place in a notebook cell, as the kernel sends it (records.Location). */
export function cellLocation(cell: number, line: number, code: string | null = null): ILocation {
  return { cell, line, code, path: null, text: `cell [${cell}] line ${line}` };
}

/** A place in a file, as the kernel sends it. */
export function fileLocation(path: string, line: number, code: string | null = null): ILocation {
  const parts = path.split('/');
  return { cell: null, line, code, path, text: `${parts.slice(-2).join('/')}:${line}` };
}

export function compileEvent(overrides: Partial<ICompileEvent> = {}): ICompileEvent {
  return {
    kind: 'compile',
    id: 1,
    fun_key: 'k:f',
    fun_name: 'f',
    defined_at: '/tmp/ipykernel_1/123.py:2',
    call_site: '/tmp/ipykernel_1/123.py:6',
    cell: 5,
    trace_s: 0.002,
    lower_s: 0.003,
    compile_s: 0.0153,
    total_s: 0.0203,
    persistent_cache: null,
    time: 1700000001.0,
    thread: 'MainThread',
    process_index: 0,
    internal: false,
    parent: null,
    api: 'call',
    signature: 'x: f32[3]',
    reasons: [FIRST_CALL],
    call: cellLocation(5, 6, 'y = f(x)'),
    defined: cellLocation(5, 2, 'def f(x):'),
    // derived by the kernel (records.py), as it writes them for these numbers
    location: 'cell [5] line 6',
    trace_text: '2.0 ms',
    lower_text: '3.0 ms',
    compile_text: '15.3 ms',
    total_text: '20.3 ms',
    diffable: false,
    ...overrides
  };
}

export function compileStats(overrides: Partial<ICompileStats> = {}): ICompileStats {
  return {
    kind: 'compile_stats',
    fun_key: 'k:f',
    fun_name: 'f',
    defined_at: '/tmp/ipykernel_1/123.py:2',
    internal: false,
    compiles: 1,
    trace_s: 0.002,
    lower_s: 0.003,
    compile_s: 0.0153,
    total_s: 0.0203,
    reasons: { first_call: 1 },
    last_reasons: [FIRST_CALL],
    last_time: 1700000001.0,
    total_text: '20.3 ms',
    reasons_text: 'first call ×1',
    notes: [],
    defined: cellLocation(5, 2, 'def f(x):'),
    ...overrides
  };
}

export function compileAlert(overrides: Partial<ICompileAlert> = {}): ICompileAlert {
  return {
    kind: 'compile_alert',
    fun_key: 'k:f',
    fun_name: 'f',
    compiles: 5,
    reason_kind: 'shape',
    message: '`f` recompiled 5 times: `x` changed shape (3,) → (8,)',
    hint: 'pad `x` to a fixed size or mark it static',
    time: 1700000002.0,
    ...overrides
  };
}

export function deviceMemory(overrides: Partial<IDeviceMemory> = {}): IDeviceMemory {
  return {
    device: 'cpu:0',
    id: 0,
    platform: 'cpu',
    arrays: 3,
    bytes: 4 * 1024 * 1024 + 8,
    bytes_in_use: null,
    peak_bytes_in_use: null,
    bytes_limit: null,
    bytes_text: '4.0 MiB',
    in_use_text: '–',
    peak_text: '–',
    limit_text: '–',
    ...overrides
  };
}

export function bufferGroup(overrides: Partial<IBufferGroup> = {}): IBufferGroup {
  return {
    name: "state.params['Dense_0']['kernel']",
    arrays: 1,
    bytes: 4 * 1024 * 1024,
    example: 'f32[1024,1024]',
    site: 'cell [5] line 3 (train)',
    at: cellLocation(5, 3, 'state = train(state)'),
    bytes_text: '4.0 MiB',
    ...overrides
  };
}

export function buffersRecord(overrides: Partial<IBuffersRecord> = {}): IBuffersRecord {
  return {
    kind: 'buffers',
    seq: 1,
    time: 1700000010.0,
    trigger: 'sampler',
    arrays: 3,
    bytes: 4 * 1024 * 1024 + 8,
    device_bytes: 4 * 1024 * 1024 + 8,
    deleted: 0,
    devices: [deviceMemory()],
    dtypes: [
      bufferGroup({ name: 'float32', arrays: 3, bytes: 4 * 1024 * 1024 + 8, site: null })
    ],
    owners: [
      bufferGroup(),
      bufferGroup({
        name: 'losses',
        arrays: 2,
        bytes: 8,
        bytes_text: '8 B',
        example: 'f32[]',
        site: 'cell [6] line 4'
      })
    ],
    sites: [
      bufferGroup({ name: 'cell [5] line 3 (train)', site: 'cell [5] line 3 (train)' }),
      bufferGroup({
        name: 'cell [6] line 4',
        arrays: 2,
        bytes: 8,
        bytes_text: '8 B',
        example: 'f32[]',
        site: 'cell [6] line 4'
      })
    ],
    unowned: bufferGroup({
      name: '',
      arrays: 0,
      bytes: 0,
      bytes_text: '0 B',
      example: '',
      site: null
    }),
    attributed: true,
    partial: false,
    took_s: 0.0042,
    interval_s: 1,
    bytes_text: '4.0 MiB',
    device_bytes_text: '4.0 MiB',
    took_text: '4.2 ms',
    ...overrides
  };
}

export function bufferAlert(overrides: Partial<IBufferAlert> = {}): IBufferAlert {
  return {
    kind: 'buffer_alert',
    id: 1,
    time: 1700000020.0,
    group: 'owner',
    name: 'losses',
    arrays_delta: 30,
    bytes_delta: 120,
    snapshots: 3,
    message: '`losses` gained 30 f32[] device arrays over the last 3 snapshots',
    hint: 'store float(loss) or jax.device_get(loss) instead of the device array',
    ...overrides
  };
}

export function paramLayer(overrides: Partial<IParamLayer> = {}): IParamLayer {
  return {
    path: "['params']['Dense_0']",
    leaves: 2,
    values: 1024 * 1024 + 1024,
    norm: 32.5,
    update: 0.0012,
    nan: 0,
    inf: 0,
    mean: 0.01,
    std: 0.05,
    min: -0.2,
    max: 0.21,
    zeros: 0,
    values_text: '1.0M',
    norm_text: '32.5',
    update_text: '1.2e-3',
    stats_text: 'mean 0.01 · std 0.05 · min -0.2 · max 0.21 · zeros 0%',
    ...overrides
  };
}

export function paramsWatch(overrides: Partial<IParamsWatch> = {}): IParamsWatch {
  return {
    kind: 'params_watch',
    name: 'params',
    seq: 1,
    step: 100,
    time: 1700000030.0,
    leaves: 4,
    values: 1024 * 1024 + 1024 + 1024 * 10 + 10,
    norm: 33.25,
    update: 0.0012,
    nonfinite: 0,
    layers: [
      paramLayer(),
      paramLayer({
        path: "['params']['Dense_1']",
        values: 1024 * 10 + 10,
        norm: 3.5,
        update: 0.0034,
        values_text: '10k',
        norm_text: '3.5',
        update_text: '3.4e-3'
      })
    ],
    more_layers: 0,
    took_s: 0.0021,
    interval_s: 1,
    note: null,
    values_text: '1.1M',
    norm_text: '33.25',
    update_text: '1.2e-3',
    took_text: '2.1 ms',
    ...overrides
  };
}

export function paramsAlert(overrides: Partial<IParamsAlert> = {}): IParamsAlert {
  const message =
    overrides.message ?? "params: ['params']['Dense_0']['kernel'] turned NaN at step 1234";
  return {
    kind: 'params_alert',
    id: 1,
    time: 1700000040.0,
    name: 'params',
    step: 1234,
    path: "['params']['Dense_0']['kernel']",
    nan: 12,
    inf: 0,
    message,
    hint: 'lower the learning rate or clip gradients (optax.clip_by_global_norm)',
    last_finite_step: 1233,
    bad_leaves: 1,
    total_leaves: 4,
    leaves: ["['params']['Dense_0']['kernel']"],
    checked: 'every watched step checked',
    cause: null,
    watched_at: cellLocation(7, 4, "jaxinspect.watch('state', state, step=step)"),
    cause_at: null,
    // derived by the kernel: without a cause the headline is the message itself
    headline: message,
    leaves_text: '1 of 4 leaves non-finite',
    ...overrides
  };
}

export function keyNode(overrides: Partial<IKeyNode> = {}): IKeyNode {
  return {
    id: 1,
    parent: null,
    depth: 0,
    op: 'key',
    label: 'key(0)',
    typed: true,
    site: 'cell 3, line 2',
    state: 'split',
    uses: 0,
    used_by: [],
    folded: 0,
    ...overrides
  };
}

export function keyCount(overrides: Partial<IKeyCount> = {}): IKeyCount {
  return { name: 'normal', site: 'cell 3, line 5', count: 4, ...overrides };
}

export function keysRecord(overrides: Partial<IKeys> = {}): IKeys {
  return {
    kind: 'keys',
    seq: 1,
    time: 1700000050.0,
    tracking: true,
    on_reuse: 'warn',
    created: 1,
    derived: 4,
    consumed: 3,
    reuses: 0,
    summarised: 0,
    nodes: [
      keyNode(),
      keyNode({
        id: 2,
        parent: 1,
        depth: 1,
        op: 'split',
        label: 'split[0] of #1',
        state: 'consumed',
        site: 'cell 3, line 4',
        uses: 1,
        used_by: ['normal @ cell 3, line 5']
      }),
      keyNode({
        id: 3,
        parent: 1,
        depth: 1,
        op: 'split',
        label: 'split[1] of #1',
        state: 'fresh',
        site: 'cell 3, line 4'
      })
    ],
    more_nodes: 0,
    consumers: [keyCount()],
    note: null,
    places: { 'cell 3, line 4': cellLocation(3, 4, 'k1, k2 = jax.random.split(key)') },
    ...overrides
  };
}

export function keyReuse(overrides: Partial<IKeyReuse> = {}): IKeyReuse {
  return {
    kind: 'key_reuse',
    id: 1,
    time: 1700000060.0,
    where: 'eager',
    reuse: 'consumed twice',
    key: 'split[0] of #1',
    function: null,
    first_op: 'normal',
    first_site: 'cell 3, line 5',
    second_op: 'uniform',
    second_site: 'cell 3, line 6',
    first_at: cellLocation(3, 5, 'a = jax.random.normal(k)'),
    second_at: cellLocation(3, 6, 'b = jax.random.uniform(k)'),
    path: ['key(0)', 'split[0] of #1'],
    count: 1,
    message: 'key split[0] of #1 was consumed twice: normal, then uniform',
    hint: 'split the key first: key, sub = jax.random.split(key)',
    first_use: 'normal @ cell 3, line 5',
    second_use: 'uniform @ cell 3, line 6',
    ...overrides
  };
}

/** The kernel's label of a process (`units.process_label`): "engine 0 · p0", else "p0". */
export function processLabelOf(engineId: number | null | undefined, processIndex: number): string {
  const p = processIndex >= 0 ? `p${processIndex}` : 'p?';
  return typeof engineId === 'number' ? `engine ${engineId} · ${p}` : p;
}

export function processRecord(overrides: Partial<IProcessRecord> = {}): IProcessRecord {
  const engineId = overrides.engine_id ?? null;
  return {
    kind: 'process',
    id: 1,
    process_index: 0,
    process_count: 2,
    host: 'host-a',
    pid: 4242,
    state: 'connected',
    connected_at: 1700000100.0,
    last_seen: 1700000105.0,
    records: 10,
    dropped: 0,
    jax_version: '0.12.0.1',
    backend: 'cpu',
    devices: ['cpu:0', 'cpu:1'],
    note: null,
    engine_id: engineId,
    transport: engineId === null ? 'loopback' : 'ipyparallel',
    doorbell: null,
    label: processLabelOf(engineId, overrides.process_index ?? 0),
    ...overrides
  };
}

/** `record` as process `source` sent it, wrapped the way the collector forwards it. */
export function remote(
  source: number,
  record: IRemoteRecord['record'],
  processIndex = source - 1
): IRemoteRecord {
  return { kind: 'remote', source, process_index: processIndex, record };
}

/** One process's facts, as the kernel's collector table derives them (`ProcessFacts`). */
export function processFacts(overrides: Partial<IProcessFacts> = {}): IProcessFacts {
  const engineId = overrides.engine_id ?? null;
  return {
    id: 1,
    process_index: 0,
    compiles: 0,
    internal_compiles: 0,
    compile_s: 0,
    compile_text: '0.0 ms',
    last_recompile: null,
    arrays: null,
    bytes: null,
    bytes_text: '–',
    device_in_use: null,
    in_use_text: '–',
    device_peak: null,
    peak_text: '–',
    alerts: 0,
    label: processLabelOf(engineId, overrides.process_index ?? 0),
    engine_id: engineId,
    activity: 'idle',
    stuck: false,
    activity_text: 'idle',
    where: null,
    function: null,
    inner: null,
    still_s: null,
    last_step_text: '–',
    last_compile_text: '–',
    stack: null,
    stack_reason: null,
    stack_age_s: null,
    ...overrides
  };
}

/**
 * The facts of a process whose main thread has waited `still_s` seconds at cell [3] line 7 in
 * `step` (inside `jax/_src/array.py`), as the kernel's collector derives them: stuck (with its
 * stack taken when it looked stuck) unless `activity` says otherwise.
 */
export function stuckFacts(overrides: Partial<IProcessFacts> = {}): IProcessFacts {
  return processFacts({
    activity: 'stuck',
    stuck: true,
    activity_text: 'stuck 14 s at cell [3] line 7 (step)',
    where: {
      cell: 3,
      line: 7,
      code: 'total = jax.lax.psum(x, "i").block_until_ready()',
      path: null,
      text: 'cell [3] line 7'
    },
    function: 'step',
    inner: 'jax/_src/array.py:640 (_value)',
    still_s: 14,
    last_step_text: 'step 41 · 15 s ago',
    last_compile_text: 'step · 20 s ago',
    stack:
      'Thread MainThread, innermost last:\n' +
      '  cell [3] line 9, in <module>\n    step(x)\n' +
      '  cell [3] line 7, in step\n    total = jax.lax.psum(x, "i").block_until_ready()\n' +
      '  jax/_src/array.py:640, in _value\n    self._npy_value = self._single_device_array_to_np_array()',
    stack_reason: 'waiting',
    stack_age_s: 4,
    ...overrides
  });
}

/** A process's `liveness` reading (`LivenessRecord`), as its sampler thread sends it. */
export function livenessRecord(overrides: Partial<ILivenessRecord> = {}): ILivenessRecord {
  return {
    kind: 'liveness',
    seq: 1,
    time: 1700000110.0,
    busy: true,
    activity: 'waiting',
    where: { cell: 3, line: 7, code: 'step(x)', path: null, text: 'cell [3] line 7' },
    function: 'step',
    inner: 'jax/_src/array.py:640 (_value)',
    still_s: 3,
    cpu_s: 0,
    last_step: 41,
    last_step_time: 1700000100.0,
    last_compile: 'step',
    last_compile_time: 1700000090.0,
    stuck_after_s: 10,
    ...overrides
  };
}

/** A process's main-thread `stack` (`StackRecord`). */
export function stackRecord(overrides: Partial<IStackRecord> = {}): IStackRecord {
  return {
    kind: 'stack',
    seq: 1,
    time: 1700000110.0,
    reason: 'waiting',
    thread: 'MainThread',
    frames: [
      {
        function: 'step',
        where: { cell: 3, line: 7, code: 'step(x)', path: null, text: 'cell [3] line 7' },
        user: true
      }
    ],
    more: 0,
    where: { cell: 3, line: 7, code: 'step(x)', path: null, text: 'cell [3] line 7' },
    function: 'step',
    still_s: 12,
    text: '  cell [3] line 7, in step\n    step(x)',
    ...overrides
  };
}

/** One function across processes, with the kernel's divergence mark (`ProcessFunctionRow`). */
export function functionRow(overrides: Partial<IProcessFunctionRow> = {}): IProcessFunctionRow {
  return {
    name: 'step',
    counts: { '1': 1, '2': 1 },
    total: 2,
    differs: false,
    reason: null,
    reason_from: 1,
    ...overrides
  };
}

/** The collector's `processes` record (computed once in the kernel). */
export function processesRecord(overrides: Partial<IProcessesSummary> = {}): IProcessesSummary {
  return {
    kind: 'processes',
    seq: 1,
    time: 1700000010.0,
    processes: [],
    functions: [],
    more_functions: 0,
    more_differing: 0,
    differing: 0,
    summary: '',
    duplicates: {},
    stuck: [],
    diagnosis: null,
    stuck_after_s: 10,
    ...overrides
  };
}
