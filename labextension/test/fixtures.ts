/** Shared wire fixtures for the tests. */

import { PROTOCOL_VERSION } from '../src/protocol';
import type {
  IBatchMessage,
  IEnvRecord,
  IHelloMessage,
  IStatusRecord
} from '../src/protocol';

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
