import { describe, expect, it } from 'vitest';

import { RingBuffer, SessionModel } from '../src/model';
import { batch, env, hello, status } from './fixtures';

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
