import { describe, expect, it } from 'vitest';

import { ProcessModel, SessionModel } from '../src/model';
import { SCHEMA } from '../src/protocol';
import {
  batch,
  bufferAlert,
  buffersRecord,
  compileAlert,
  compileEvent,
  compileStats,
  deviceMemory,
  env,
  hello,
  keyReuse,
  keysRecord,
  livenessRecord,
  paramsAlert,
  paramsWatch,
  processRecord,
  remote,
  stackRecord,
  status
} from './fixtures';

function makeModel() {
  let t = 1_700_000_200_000;
  const model = new SessionModel({ name: 'nb.ipynb', now: () => t });
  model.applyHello(hello());
  return {
    model,
    tick: (ms: number) => {
      t += ms;
    }
  };
}

describe('SessionModel processes', () => {
  it('starts with none', () => {
    const { model } = makeModel();
    expect(model.processes).toEqual([]);
    expect(model.processesDropped).toBe(0);
    expect(model.process(1)).toBeUndefined();
  });

  it('routes remote records to their process and never to the kernel state', () => {
    const { model } = makeModel();
    model.applyBatch(
      batch(1, [
        processRecord({ id: 1, process_index: 0 }),
        processRecord({ id: 2, process_index: 1, host: 'host-b' }),
        remote(1, compileStats({ compiles: 3 })),
        remote(1, compileEvent({ id: 7 })),
        remote(2, compileStats({ compiles: 1 })),
        remote(1, buffersRecord({ seq: 4, arrays: 9 })),
        remote(1, env({ backend: 'gpu', device_count: 8 })),
        remote(1, status({ seq: 9, busy: true })),
        remote(2, compileAlert()),
        remote(2, bufferAlert()),
        remote(2, paramsAlert()),
        remote(2, keyReuse()),
        remote(2, { kind: 'internal_error', where: 'sampler', message: 'boom', count: 1 }),
        remote(1, keysRecord({ seq: 3 })),
        remote(1, paramsWatch({ seq: 2 }))
      ])
    );
    // the kernel's own state is untouched
    expect(model.compileStats).toEqual([]);
    expect(model.compileEvents).toEqual([]);
    expect(model.compileAlerts).toEqual([]);
    expect(model.buffers).toBeNull();
    expect(model.bufferHistory).toEqual([]);
    expect(model.bufferAlerts).toEqual([]);
    expect(model.paramAlerts).toEqual([]);
    expect(model.paramWatchNames).toEqual([]);
    expect(model.keys).toBeNull();
    expect(model.keyReuses).toEqual([]);
    expect(model.internalErrors).toEqual([]);
    expect(model.env?.backend).toBe('cpu');
    expect(model.status?.seq).toBe(1);
    expect(model.kinds).toEqual([]);
    expect(model.records('remote')).toEqual([]);
    expect(model.records('process')).toEqual([]);

    // ... and lands in the processes
    const [p0, p1] = model.processes;
    expect(p0.info.id).toBe(1);
    expect(p1.info.host).toBe('host-b');
    expect(p0.compileStats.get('k:f')?.compiles).toBe(3);
    expect(p0.compiles.toArray().map(e => e.id)).toEqual([7]);
    expect(p0.buffers?.arrays).toBe(9);
    expect(p0.env?.backend).toBe('gpu');
    expect(p0.status?.seq).toBe(9);
    expect(p0.keys?.seq).toBe(3);
    expect(p0.paramWatches.get('params')?.seq).toBe(2);
    expect(p0.records).toBe(7);
    expect(p0.alerts).toEqual([]);
    expect(p1.compileStats.get('k:f')?.compiles).toBe(1);
    expect(p1.alerts.map(a => a.record.kind)).toEqual([
      'compile_alert',
      'buffer_alert',
      'params_alert',
      'key_reuse',
      'internal_error'
    ]);
    expect(p1.alerts.every(a => a.source === 2)).toBe(true);
    expect(p1.alertCount).toBe(5);
    expect(p1.records).toBe(6);
    expect(p0.lastReceived).toBe(1_700_000_200_000);
  });

  it('leaves local records working alongside remote ones', () => {
    const { model } = makeModel();
    model.applyBatch(
      batch(1, [
        compileStats({ fun_key: 'local', compiles: 2 }),
        remote(1, compileStats({ fun_key: 'local', compiles: 40 })),
        buffersRecord({ seq: 1, arrays: 1 }),
        remote(1, buffersRecord({ seq: 99, arrays: 50 }))
      ])
    );
    expect(model.compileStats.map(s => s.compiles)).toEqual([2]);
    expect(model.buffers?.arrays).toBe(1);
    expect(model.bufferHistory).toHaveLength(1);
    expect(model.process(1)?.compileStats.get('local')?.compiles).toBe(40);
  });

  it('replaces a process record by id and keeps what the process sent', () => {
    const { model } = makeModel();
    model.applyBatch(
      batch(1, [processRecord({ id: 5, process_index: 1 }), remote(5, compileStats())])
    );
    model.applyBatch(
      batch(2, [processRecord({ id: 5, process_index: 1, state: 'lost', last_seen: 1700000300 })])
    );
    expect(model.processes).toHaveLength(1);
    const p = model.process(5)!;
    expect(p.info.state).toBe('lost');
    expect(p.info.last_seen).toBe(1700000300);
    expect(p.compileStats.size).toBe(1);
    // a new connection of the same process index is another process
    model.applyBatch(batch(3, [processRecord({ id: 6, process_index: 1 })]));
    expect(model.processes.map(q => q.info.id)).toEqual([5, 6]);
  });

  it('sorts processes by process_index, then id', () => {
    const { model } = makeModel();
    model.applyBatch(
      batch(1, [
        processRecord({ id: 9, process_index: 2 }),
        processRecord({ id: 3, process_index: 0 }),
        processRecord({ id: 8, process_index: 0 }),
        processRecord({ id: 1, process_index: 1 })
      ])
    );
    expect(model.processes.map(p => p.info.id)).toEqual([3, 8, 1, 9]);
  });

  it('makes a placeholder for a remote record from an unknown process', () => {
    const { model } = makeModel();
    model.applyBatch(batch(1, [remote(4, compileStats({ compiles: 2 }), 3)]));
    const p = model.process(4)!;
    expect(p.placeholder).toBe(true);
    expect(p.info).toEqual({
      kind: 'process',
      id: 4,
      process_index: 3,
      process_count: 0,
      host: '?',
      pid: 0,
      state: 'connected',
      connected_at: 1_700_000_200,
      last_seen: 1_700_000_200,
      records: 0,
      dropped: 0,
      jax_version: null,
      backend: null,
      devices: [],
      note: null,
      engine_id: null,
      transport: 'loopback',
      doorbell: null,
      label: ''
    });
    expect(Object.keys(p.info).sort()).toEqual(Object.keys(SCHEMA.records.process).sort());
    expect(p.compileStats.get('k:f')?.compiles).toBe(2);
    // the real record replaces the placeholder's info, keeping the data
    model.applyBatch(batch(2, [processRecord({ id: 4, process_index: 3, host: 'h4' })]));
    expect(model.processes).toHaveLength(1);
    expect(p.placeholder).toBe(false);
    expect(p.info.host).toBe('h4');
    expect(p.compileStats.get('k:f')?.compiles).toBe(2);
  });

  it('ignores malformed process and remote records', () => {
    const { model } = makeModel();
    model.applyBatch(
      batch(1, [
        { kind: 'process', id: 'x' },
        { kind: 'remote', source: 'x', process_index: 0, record: compileStats() },
        { kind: 'remote', source: 1, process_index: 0, record: null },
        { kind: 'remote', source: 1, process_index: 0, record: [1, 2] },
        { kind: 'remote', source: 1, process_index: 0, record: { no_kind: 1 } },
        { kind: 'remote', source: 1.5, process_index: 0, record: compileStats() }
      ])
    );
    expect(model.processes).toEqual([]);
    // a remote record of an unknown kind is counted but not kept
    model.applyBatch(batch(2, [remote(1, { kind: 'frobnicate', x: 1 })]));
    expect(model.process(1)?.records).toBe(1);
    expect(model.kinds).toEqual([]);
  });

  it('keeps the latest status, buffers and keys by seq', () => {
    const { model } = makeModel();
    model.applyBatch(
      batch(1, [
        remote(1, status({ seq: 5 })),
        remote(1, status({ seq: 4 })),
        remote(1, buffersRecord({ seq: 3, arrays: 3 })),
        remote(1, buffersRecord({ seq: 2, arrays: 2 })),
        remote(1, keysRecord({ seq: 8 })),
        remote(1, keysRecord({ seq: 7 })),
        remote(1, env({ backend: 'a' })),
        remote(1, env({ backend: 'b' }))
      ])
    );
    const p = model.process(1)!;
    expect(p.status?.seq).toBe(5);
    expect(p.buffers?.arrays).toBe(3);
    expect(p.keys?.seq).toBe(8);
    expect(p.env?.backend).toBe('b');
  });

  it('bounds compile events and alerts per process', () => {
    const { model } = makeModel();
    const records = [];
    for (let i = 0; i < ProcessModel.COMPILE_CAPACITY + 10; i++) {
      records.push(remote(1, compileEvent({ id: i })));
    }
    for (let i = 0; i < ProcessModel.ALERT_CAPACITY + 5; i++) {
      records.push(remote(1, bufferAlert({ id: i })));
    }
    model.applyBatch(batch(1, records));
    const p = model.process(1)!;
    expect(ProcessModel.COMPILE_CAPACITY).toBe(200);
    expect(ProcessModel.ALERT_CAPACITY).toBe(50);
    const ids = p.compiles.toArray().map(e => e.id);
    expect(ids).toHaveLength(200);
    expect(ids[0]).toBe(10);
    expect(p.compiles.dropped).toBe(10);
    const alerts = p.alerts;
    expect(alerts).toHaveLength(50);
    expect((alerts[0].record as { id: number }).id).toBe(5);
    expect(p.alertCount).toBe(55);
  });

  it('replaces a re-sent key reuse (same id) and internal error (same where)', () => {
    const { model } = makeModel();
    model.applyBatch(
      batch(1, [
        remote(1, keyReuse({ id: 1, count: 1 })),
        remote(1, { kind: 'internal_error', where: 'a', message: 'x', count: 1 }),
        remote(1, keyReuse({ id: 2 })),
        remote(1, keyReuse({ id: 1, count: 3 })),
        remote(1, { kind: 'internal_error', where: 'a', message: 'x', count: 2 })
      ])
    );
    const alerts = model.process(1)!.alerts;
    expect(alerts.map(a => a.record.kind)).toEqual(['key_reuse', 'key_reuse', 'internal_error']);
    expect((alerts[1].record as { count: number }).count).toBe(3);
    expect((alerts[2].record as { count: number }).count).toBe(2);
    // newer arrivals have higher seq
    expect(alerts[0].seq).toBeLessThan(alerts[1].seq);
    expect(alerts[1].seq).toBeLessThan(alerts[2].seq);
    expect(model.process(1)!.alertCount).toBe(3);
  });

  it('keeps at most MAX_PROCESSES, dropping the oldest closed or lost first', () => {
    const { model } = makeModel();
    const N = SessionModel.MAX_PROCESSES;
    expect(N).toBe(256);
    const records = [];
    for (let id = 1; id <= N; id++) {
      records.push(
        processRecord({ id, process_index: id, state: id === 10 || id === 20 ? 'lost' : 'connected' })
      );
    }
    model.applyBatch(batch(1, records));
    expect(model.processes).toHaveLength(N);
    model.applyBatch(batch(2, [processRecord({ id: 1000, process_index: 0 })]));
    expect(model.processes).toHaveLength(N);
    expect(model.process(10)).toBeUndefined();
    expect(model.process(20)).toBeDefined();
    expect(model.process(1000)).toBeDefined();
    model.applyBatch(batch(3, [remote(1001, compileStats())]));
    expect(model.process(20)).toBeUndefined();
    expect(model.process(1001)).toBeDefined();
    // with none closed or lost, the oldest goes
    model.applyBatch(batch(4, [processRecord({ id: 1002 })]));
    expect(model.process(1)).toBeUndefined();
    expect(model.process(1002)).toBeDefined();
    expect(model.processes).toHaveLength(N);
    expect(model.processesDropped).toBe(3);
  });

  it('clears processes on a new hello and when the kernel goes away', () => {
    const { model } = makeModel();
    model.applyBatch(batch(1, [processRecord(), remote(2, compileStats())]));
    expect(model.processes).toHaveLength(2);
    model.applyHello(hello());
    expect(model.processes).toEqual([]);
    model.applyBatch(batch(1, [processRecord()]));
    model.setState('dead', 'kernel died');
    expect(model.processes).toEqual([]);
    expect(model.processesDropped).toBe(0);
  });

  it('uses fixtures that carry exactly the fields the schema names', () => {
    expect(Object.keys(processRecord()).sort()).toEqual(
      Object.keys(SCHEMA.records.process).sort()
    );
    expect(Object.keys(remote(1, compileStats())).sort()).toEqual(
      Object.keys(SCHEMA.records.remote).sort()
    );
    expect(SCHEMA.records.process.devices).toBe('list[str]');
    expect(SCHEMA.records.remote.record).toBe('any');
    expect(Object.keys(SCHEMA.records)).toContain('remote');
    expect(deviceMemory().bytes_in_use).toBeNull();
  });

  it('counts liveness and stack records but keeps none of them, and never as alerts', () => {
    const { model } = makeModel();
    model.applyBatch(batch(1, [processRecord({ id: 1, engine_id: 0 })]));
    const p = model.process(1)!;
    const n = 5000;
    for (let i = 0; i < n; i++) {
      model.applyBatch(
        batch(i + 2, [
          remote(1, livenessRecord({ seq: i })),
          remote(1, stackRecord({ seq: i, text: 'x'.repeat(1000) })),
          // this kernel's own readings, too
          livenessRecord({ seq: i }),
          stackRecord({ seq: i })
        ])
      );
    }
    expect(p.records).toBe(2 * n);
    expect(p.alerts).toEqual([]);
    expect(p.alertCount).toBe(0);
    expect(p.compiles.length).toBe(0);
    expect(p.status).toBeNull();
    // nothing of them held: no ring of their kind in the kernel's own state either
    expect(model.kinds).not.toContain('liveness');
    expect(model.kinds).not.toContain('stack');
    expect(model.records('liveness')).toEqual([]);
    expect(model.records('stack')).toEqual([]);
    expect(model.internalErrorCount).toBe(0);
    expect(model.processes).toHaveLength(1);
    // a placeholder made from one keeps its "p<index>" fallback (no label yet)
    model.applyBatch(batch(n + 5, [remote(9, livenessRecord(), 4)]));
    expect(model.process(9)!.info.label).toBe('');
    expect(model.process(9)!.info.engine_id).toBeNull();
  });
});
