import { describe, expect, it } from 'vitest';

import { RingBuffer, SessionModel } from '../src/model';
import {
  batch,
  bufferAlert,
  buffersRecord,
  compileAlert,
  compileEvent,
  compileStats,
  env,
  hello,
  keyReuse,
  keysRecord,
  paramLayer,
  paramsAlert,
  paramsWatch,
  status
} from './fixtures';

function makeModel(capacity = 1000) {
  let t = 1000;
  const model = new SessionModel({ name: 'nb.ipynb', ringCapacity: capacity, now: () => t });
  let changes = 0;
  model.stateChanged.connect(() => changes++);
  return {
    model,
    changes: () => changes,
    tick: (ms: number) => {
      t += ms;
    }
  };
}

describe('RingBuffer', () => {
  it('keeps the newest items and counts the dropped ones', () => {
    const r = new RingBuffer<number>(3);
    for (let i = 0; i < 5; i++) {
      r.push(i);
    }
    expect(r.toArray()).toEqual([2, 3, 4]);
    expect(r.dropped).toBe(2);
    r.addDropped(4);
    expect(r.dropped).toBe(6);
  });
});

describe('SessionModel', () => {
  it('starts without a kernel', () => {
    const { model } = makeModel();
    expect(model.state).toBe('no-kernel');
    expect(model.env).toBeNull();
  });

  it('becomes ready on hello, with env and status', () => {
    const { model, changes } = makeModel();
    model.setState('connecting');
    model.applyHello(hello());
    expect(model.state).toBe('ready');
    expect(model.message).toBeNull();
    expect(model.env?.jax_version).toBe('0.12.0.1');
    expect(model.status?.seq).toBe(1);
    expect(model.session?.pid).toBe(1234);
    expect(model.lastUpdate).toBe(1000);
    expect(changes()).toBe(2);
  });

  it('applies batches: status and env replace, other kinds append', () => {
    const { model, tick } = makeModel();
    model.applyHello(hello());
    tick(500);
    model.applyBatch(
      batch(7, [
        status({ seq: 2, busy: true, events_total: 5 }),
        { kind: 'compile', fun_name: 'f' },
        env({ backend: 'gpu', device_count: 8 }),
        { kind: 'compile', fun_name: 'g' }
      ])
    );
    expect(model.status?.seq).toBe(2);
    expect(model.status?.busy).toBe(true);
    expect(model.env?.backend).toBe('gpu');
    expect(model.records('compile').map(r => r.fun_name)).toEqual(['f', 'g']);
    expect(model.records('status')).toEqual([]);
    expect(model.batchSeq).toBe(7);
    expect(model.lastUpdate).toBe(1500);
  });

  it('ignores an older status arriving late', () => {
    const { model } = makeModel();
    model.applyHello(hello({ status: status({ seq: 5 }) }));
    model.applyBatch(batch(1, [status({ seq: 4, busy: true })]));
    expect(model.status?.seq).toBe(5);
    expect(model.status?.busy).toBe(false);
  });

  it('bounds each kind and adds the kernel-reported drops', () => {
    const { model } = makeModel(2);
    model.applyHello(hello());
    model.applyBatch(
      batch(1, [1, 2, 3].map(i => ({ kind: 'buffer', i })), { buffer: 10 })
    );
    expect(model.records('buffer').map(r => r.i)).toEqual([2, 3]);
    expect(model.dropped('buffer')).toBe(11);
  });

  it('keeps internal errors by place', () => {
    const { model } = makeModel();
    model.applyHello(hello());
    model.applyBatch(
      batch(1, [
        { kind: 'internal_error', where: 'sampler', message: 'boom', count: 1 },
        { kind: 'internal_error', where: 'sampler', message: 'boom', count: 2 },
        { kind: 'internal_error', where: 'listener', message: 'bad', count: 1 }
      ])
    );
    expect(model.internalErrors.map(e => [e.where, e.count])).toEqual([
      ['sampler', 2],
      ['listener', 1]
    ]);
    // The kernel's status count wins once known.
    expect(model.internalErrorCount).toBe(0);
    model.applyBatch(batch(2, [status({ seq: 2, internal_errors: 3 })]));
    expect(model.internalErrorCount).toBe(3);
  });

  it('goes back to not-loaded on goodbye and forgets kernel data', () => {
    const { model } = makeModel();
    model.applyHello(hello());
    model.applyBatch(batch(1, [{ kind: 'compile' }]));
    model.applyGoodbye('unloaded');
    expect(model.state).toBe('not-loaded');
    expect(model.message).toBe('unloaded');
    expect(model.env).toBeNull();
    expect(model.status).toBeNull();
    expect(model.records('compile')).toEqual([]);
  });

  it('a fresh hello after a reconnect clears old records', () => {
    const { model } = makeModel();
    model.applyHello(hello());
    model.applyBatch(batch(1, [{ kind: 'compile' }]));
    model.applyHello(hello());
    expect(model.records('compile')).toEqual([]);
  });

  it('dispose is idempotent and disconnects listeners', () => {
    const { model, changes } = makeModel();
    model.dispose();
    model.dispose();
    model.setState('connecting');
    expect(changes()).toBe(0);
    expect(model.isDisposed).toBe(true);
  });
});

describe('SessionModel compile records', () => {
  it('keeps at least 2000 compile events by default, per-kind capacity configurable', () => {
    const model = new SessionModel();
    expect(model.capacities.compile).toBeGreaterThanOrEqual(2000);
    model.applyHello(hello());
    model.applyBatch(
      batch(
        1,
        Array.from({ length: 2500 }, (_, i) => compileEvent({ id: i + 1 })),
        { compile: 7 }
      )
    );
    const ids = model.compileEvents.map(e => e.id);
    expect(ids).toHaveLength(model.capacities.compile);
    expect(ids[ids.length - 1]).toBe(2500);
    expect(ids[0]).toBe(2500 - model.capacities.compile + 1);
    expect(model.dropped('compile')).toBe(2500 - model.capacities.compile + 7);

    const small = new SessionModel({ ringCapacity: 3, capacities: { compile: 5 } });
    small.applyHello(hello());
    small.applyBatch(
      batch(1, [
        ...Array.from({ length: 8 }, (_, i) => compileEvent({ id: i })),
        ...Array.from({ length: 8 }, (_, i) => ({ kind: 'buffer', i }))
      ])
    );
    expect(small.compileEvents.map(e => e.id)).toEqual([3, 4, 5, 6, 7]);
    expect(small.records('buffer')).toHaveLength(3);
  });

  it('keeps compile_stats by function, the latest winning, with exact counts', () => {
    const { model } = makeModel(2);
    model.applyHello(hello());
    // Many more stats records than any ring holds: none may be lost.
    const records = [];
    for (let n = 1; n <= 50; n++) {
      records.push(compileStats({ fun_key: 'k:f', fun_name: 'f', compiles: n }));
      records.push(compileStats({ fun_key: 'k:g', fun_name: 'g', compiles: 2 * n }));
    }
    records.push(compileStats({ fun_key: 'k:h', fun_name: 'h', compiles: 1 }));
    model.applyBatch(batch(1, records));
    model.applyBatch(batch(2, [compileStats({ fun_key: 'k:h', fun_name: 'h', compiles: 2 })]));
    const byName = Object.fromEntries(model.compileStats.map(s => [s.fun_name, s.compiles]));
    expect(byName).toEqual({ f: 50, g: 100, h: 2 });
    expect(model.records('compile_stats')).toEqual([]);
  });

  it('keeps alerts bounded, and forgets compile data on a new hello', () => {
    const model = new SessionModel();
    model.applyHello(hello());
    model.applyBatch(
      batch(1, [
        ...Array.from({ length: 150 }, (_, i) => compileAlert({ compiles: i })),
        compileEvent(),
        compileStats()
      ])
    );
    expect(model.compileAlerts).toHaveLength(model.capacities.compile_alert);
    expect(model.capacities.compile_alert).toBeLessThanOrEqual(100);
    expect(model.compileAlerts[model.compileAlerts.length - 1].compiles).toBe(149);
    model.applyHello(hello());
    expect(model.compileEvents).toEqual([]);
    expect(model.compileStats).toEqual([]);
    expect(model.compileAlerts).toEqual([]);
  });
});

describe('RingBuffer (compaction)', () => {
  it('stays correct across many wraps', () => {
    const r = new RingBuffer<number>(4);
    for (let i = 0; i < 103; i++) {
      r.push(i);
      expect(r.length).toBe(Math.min(i + 1, 4));
    }
    expect(r.toArray()).toEqual([99, 100, 101, 102]);
    expect(r.dropped).toBe(99);
    r.clear();
    r.push(7);
    expect(r.toArray()).toEqual([7]);
    expect(r.dropped).toBe(0);
  });
});

describe('SessionModel buffer records', () => {
  it('keeps the latest buffers snapshot and a bounded history of its totals', () => {
    const { model } = makeModel(5);
    model.applyHello(hello());
    expect(model.buffers).toBeNull();
    expect(model.bufferHistory).toEqual([]);
    const n = SessionModel.BUFFER_HISTORY + 30;
    for (let i = 1; i <= n; i++) {
      model.applyBatch(
        batch(i, [
          buffersRecord({
            seq: i,
            time: 100 + i,
            device_bytes: 10 * i,
            device_bytes_text: `${10 * i} B`,
            arrays: i
          })
        ])
      );
    }
    expect(model.buffers?.seq).toBe(n);
    const history = model.bufferHistory;
    expect(history).toHaveLength(SessionModel.BUFFER_HISTORY);
    expect(SessionModel.BUFFER_HISTORY).toBe(120);
    // each point keeps the total as the kernel wrote it, for the min / max labels
    expect(history[0]).toEqual({
      seq: 31,
      time: 131,
      device_bytes: 310,
      device_bytes_text: '310 B',
      arrays: 31
    });
    expect(history[history.length - 1]).toEqual({
      seq: n,
      time: 100 + n,
      device_bytes: 10 * n,
      device_bytes_text: `${10 * n} B`,
      arrays: n
    });
    // snapshots are not kept in a ring (the ring capacity here is 5)
    expect(model.records('buffers')).toEqual([]);
  });

  it('ignores an older snapshot arriving late', () => {
    const { model } = makeModel();
    model.applyHello(hello());
    model.applyBatch(batch(1, [buffersRecord({ seq: 4, arrays: 7 })]));
    model.applyBatch(batch(2, [buffersRecord({ seq: 3, arrays: 1 })]));
    expect(model.buffers?.arrays).toBe(7);
    expect(model.bufferHistory.map(p => p.seq)).toEqual([4]);
  });

  it('keeps buffer alerts in a ring of 100', () => {
    const model = new SessionModel();
    model.applyHello(hello());
    expect(model.capacities.buffer_alert).toBe(100);
    model.applyBatch(
      batch(1, Array.from({ length: 130 }, (_, i) => bufferAlert({ id: i + 1 })))
    );
    const ids = model.bufferAlerts.map(a => a.id);
    expect(ids).toHaveLength(100);
    expect(ids[0]).toBe(31);
    expect(ids[99]).toBe(130);
  });

  it('forgets buffer data on restart, goodbye and a new hello', () => {
    const { model } = makeModel();
    const fill = () => {
      model.applyHello(hello());
      model.applyBatch(batch(1, [buffersRecord(), bufferAlert()]));
      expect(model.buffers).not.toBeNull();
      expect(model.bufferHistory).toHaveLength(1);
      expect(model.bufferAlerts).toHaveLength(1);
    };
    const empty = () => {
      expect(model.buffers).toBeNull();
      expect(model.bufferHistory).toEqual([]);
      expect(model.bufferAlerts).toEqual([]);
    };
    fill();
    model.setState('connecting', 'The kernel is restarting.');
    empty();
    fill();
    model.applyGoodbye('unloaded');
    empty();
    fill();
    model.applyHello(hello());
    empty();
  });
});

describe('SessionModel params records', () => {
  it('keeps the latest sample per watched name and a history of compact points', () => {
    const { model, changes } = makeModel(5);
    model.applyHello(hello());
    expect(model.paramWatches.size).toBe(0);
    const before = changes();
    model.applyBatch(
      batch(1, [
        paramsWatch({ name: 'params', seq: 1, step: 10, time: 100, norm: 2, update: null }),
        paramsWatch({ name: 'opt', seq: 1, step: null, time: 100, norm: 5, layers: [] }),
        paramsWatch({ name: 'params', seq: 2, step: 20, time: 101, norm: 3, update: 0.5 })
      ])
    );
    expect(changes()).toBe(before + 1);
    const watches = model.paramWatches;
    // in the order first seen
    expect(Array.from(watches.keys())).toEqual(['params', 'opt']);
    expect(model.paramWatchNames).toEqual(['params', 'opt']);
    const params = watches.get('params')!;
    expect(params.latest.seq).toBe(2);
    expect(params.latest.step).toBe(20);
    expect(params.history.map(p => [p.seq, p.step, p.time, p.norm, p.update])).toEqual([
      [1, 10, 100, 2, null],
      [2, 20, 101, 3, 0.5]
    ]);
    expect(params.history[1].layers).toEqual(
      new Map([
        ["['params']['Dense_0']", { norm: 32.5, update: 0.0012 }],
        ["['params']['Dense_1']", { norm: 3.5, update: 0.0034 }]
      ])
    );
    expect(watches.get('opt')!.history).toHaveLength(1);
    expect(watches.get('opt')!.history[0].layers.size).toBe(0);
    // samples are not kept in a ring
    expect(model.records('params_watch')).toEqual([]);
  });

  it('caps the history at PARAM_HISTORY samples per name', () => {
    const { model } = makeModel();
    model.applyHello(hello());
    expect(SessionModel.PARAM_HISTORY).toBe(200);
    const n = SessionModel.PARAM_HISTORY + 50;
    const records = [];
    for (let i = 1; i <= n; i++) {
      records.push(paramsWatch({ seq: i, step: i, time: 100 + i, norm: i }));
      if (i <= 3) {
        records.push(paramsWatch({ name: 'ema', seq: i, time: 100 + i }));
      }
    }
    model.applyBatch(batch(1, records));
    const history = model.paramWatches.get('params')!.history;
    expect(history).toHaveLength(SessionModel.PARAM_HISTORY);
    expect(history[0].seq).toBe(51);
    expect(history[history.length - 1].seq).toBe(n);
    expect(model.paramWatches.get('params')!.latest.seq).toBe(n);
    expect(model.paramWatches.get('ema')!.history.map(p => p.seq)).toEqual([1, 2, 3]);
  });

  it('drops late and repeated samples of a name, per name', () => {
    const { model } = makeModel();
    model.applyHello(hello());
    model.applyBatch(batch(1, [paramsWatch({ seq: 4, norm: 4 })]));
    model.applyBatch(
      batch(2, [
        paramsWatch({ seq: 3, norm: 3 }),
        paramsWatch({ seq: 4, norm: 44 }),
        // another name has its own seq
        paramsWatch({ name: 'other', seq: 1, norm: 1 })
      ])
    );
    const params = model.paramWatches.get('params')!;
    expect(params.latest.norm).toBe(4);
    expect(params.history.map(p => p.seq)).toEqual([4]);
    expect(model.paramWatches.get('other')!.latest.seq).toBe(1);
    model.applyBatch(batch(3, [paramsWatch({ seq: 5, norm: 5 })]));
    expect(model.paramWatches.get('params')!.history.map(p => p.norm)).toEqual([4, 5]);
  });

  it('tolerates odd layers and ignores samples without a name or seq', () => {
    const { model } = makeModel();
    model.applyHello(hello());
    model.applyBatch(
      batch(1, [
        { kind: 'params_watch', seq: 1 },
        { kind: 'params_watch', name: 'x' },
        paramsWatch({
          layers: [
            paramLayer({ path: '__proto__', norm: 1 }),
            null as unknown as ReturnType<typeof paramLayer>
          ]
        })
      ])
    );
    expect(Array.from(model.paramWatches.keys())).toEqual(['params']);
    const layers = model.paramWatches.get('params')!.history[0].layers;
    expect(layers.get('__proto__')).toEqual({ norm: 1, update: 0.0012 });
    expect(layers.size).toBe(1);
  });

  it('keeps params alerts in a ring of 100', () => {
    const model = new SessionModel();
    model.applyHello(hello());
    expect(model.capacities.params_alert).toBe(100);
    model.applyBatch(
      batch(1, Array.from({ length: 130 }, (_, i) => paramsAlert({ id: i + 1 })))
    );
    const ids = model.paramAlerts.map(a => a.id);
    expect(ids).toHaveLength(100);
    expect(ids[0]).toBe(31);
    expect(ids[99]).toBe(130);
  });

  it('forgets params data on restart, goodbye and a new hello', () => {
    const { model } = makeModel();
    const fill = () => {
      model.applyHello(hello());
      model.applyBatch(batch(1, [paramsWatch({ seq: 9 }), paramsAlert()]));
      expect(model.paramWatches.size).toBe(1);
      expect(model.paramAlerts).toHaveLength(1);
    };
    const empty = () => {
      expect(model.paramWatches.size).toBe(0);
      expect(model.paramAlerts).toEqual([]);
    };
    fill();
    model.setState('connecting', 'The kernel is restarting.');
    empty();
    fill();
    model.applyGoodbye('unloaded');
    empty();
    fill();
    model.applyHello(hello());
    empty();
    // a fresh kernel starts its seq again: nothing is dropped after the restart
    model.applyBatch(batch(1, [paramsWatch({ seq: 1 })]));
    expect(model.paramWatches.get('params')!.latest.seq).toBe(1);
  });
});

describe('SessionModel key records', () => {
  it('keeps the latest keys snapshot, ignoring a late one', () => {
    const { model, changes } = makeModel(5);
    model.applyHello(hello());
    expect(model.keys).toBeNull();
    const before = changes();
    model.applyBatch(batch(1, [keysRecord({ seq: 1, created: 1 }), keysRecord({ seq: 2, created: 2 })]));
    expect(changes()).toBe(before + 1);
    expect(model.keys?.seq).toBe(2);
    expect(model.keys?.created).toBe(2);
    model.applyBatch(batch(2, [keysRecord({ seq: 1, created: 9 })]));
    expect(model.keys?.created).toBe(2);
    model.applyBatch(batch(3, [keysRecord({ seq: 3, tracking: false })]));
    expect(model.keys?.seq).toBe(3);
    expect(model.keys?.tracking).toBe(false);
    // snapshots are not kept in a ring
    expect(model.records('keys')).toEqual([]);
  });

  it('replaces a key reuse with the same id in place', () => {
    const { model, changes } = makeModel();
    model.applyHello(hello());
    model.applyBatch(
      batch(1, [keyReuse({ id: 1 }), keyReuse({ id: 2, key: 'b' }), keyReuse({ id: 3, key: 'c' })])
    );
    const before = changes();
    model.applyBatch(batch(2, [keyReuse({ id: 2, key: 'b', count: 5 })]));
    expect(changes()).toBe(before + 1);
    expect(model.keyReuses.map(r => [r.id, r.count])).toEqual([
      [1, 1],
      [2, 5],
      [3, 1]
    ]);
    // the getter hands out a copy
    model.keyReuses.reverse();
    expect(model.keyReuses.map(r => r.id)).toEqual([1, 2, 3]);
  });

  it('keeps key reuses bounded at 100 ids, oldest dropped', () => {
    const model = new SessionModel();
    model.applyHello(hello());
    expect(model.capacities.key_reuse).toBe(100);
    model.applyBatch(batch(1, Array.from({ length: 130 }, (_, i) => keyReuse({ id: i + 1 }))));
    let ids = model.keyReuses.map(a => a.id);
    expect(ids).toHaveLength(100);
    expect(ids[0]).toBe(31);
    expect(ids[99]).toBe(130);
    expect(model.dropped('key_reuse')).toBe(30);
    // re-sending a held id replaces it without dropping anything
    model.applyBatch(batch(2, [keyReuse({ id: 31, count: 7 })]));
    ids = model.keyReuses.map(a => a.id);
    expect(ids).toHaveLength(100);
    expect(ids[0]).toBe(31);
    expect(model.keyReuses[0].count).toBe(7);
    // a capacity set per model
    const small = new SessionModel({ capacities: { key_reuse: 2 } });
    small.applyHello(hello());
    small.applyBatch(batch(1, [1, 2, 3].map(id => keyReuse({ id }))));
    expect(small.keyReuses.map(r => r.id)).toEqual([2, 3]);
  });

  it('forgets key data on restart, goodbye and a new hello', () => {
    const { model } = makeModel();
    const fill = () => {
      model.applyHello(hello());
      model.applyBatch(batch(1, [keysRecord({ seq: 9 }), keyReuse()]));
      expect(model.keys).not.toBeNull();
      expect(model.keyReuses).toHaveLength(1);
    };
    const empty = () => {
      expect(model.keys).toBeNull();
      expect(model.keyReuses).toEqual([]);
    };
    fill();
    model.setState('connecting', 'The kernel is restarting.');
    empty();
    fill();
    model.applyGoodbye('unloaded');
    empty();
    fill();
    model.applyHello(hello());
    empty();
    // a fresh kernel starts its seq again
    model.applyBatch(batch(1, [keysRecord({ seq: 1 })]));
    expect(model.keys?.seq).toBe(1);
  });
});
