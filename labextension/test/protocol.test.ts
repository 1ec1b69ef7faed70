import { describe, expect, it } from 'vitest';

import {
  PROTOCOL_VERSION,
  PUSH_TARGET,
  RPC_TARGET,
  SCHEMA,
  parseMessage
} from '../src/protocol';
import {
  batch,
  bufferAlert,
  buffersRecord,
  hello,
  paramLayer,
  paramsAlert,
  paramsWatch
} from './fixtures';

describe('protocol constants', () => {
  it('names the targets and version consistently', () => {
    expect(PROTOCOL_VERSION).toBe(1);
    expect(SCHEMA.version).toBe(PROTOCOL_VERSION);
    expect(SCHEMA.targets).toEqual({ push: PUSH_TARGET, rpc: RPC_TARGET });
    expect(PUSH_TARGET).toBe('jaxinspect');
    expect(RPC_TARGET).toBe('jaxinspect.rpc');
  });

  it('names the buffer records and the interest method', () => {
    expect(SCHEMA.methods).toContain('interest');
    // the fixtures carry exactly the fields the schema names
    expect(Object.keys(buffersRecord()).sort()).toEqual(Object.keys(SCHEMA.records.buffers).sort());
    expect(Object.keys(bufferAlert()).sort()).toEqual(
      Object.keys(SCHEMA.records.buffer_alert).sort()
    );
    expect(Object.keys(buffersRecord().devices[0]).sort()).toEqual(
      Object.keys(SCHEMA.records.DeviceMemory).sort()
    );
    expect(Object.keys(buffersRecord().unowned).sort()).toEqual(
      Object.keys(SCHEMA.records.BufferGroup).sort()
    );
    expect(SCHEMA.records.buffers.unowned).toBe('BufferGroup');
    expect(SCHEMA.records.buffers.devices).toBe('list[DeviceMemory]');
  });

  it('names the params records', () => {
    expect(Object.keys(paramsWatch()).sort()).toEqual(
      Object.keys(SCHEMA.records.params_watch).sort()
    );
    expect(Object.keys(paramsAlert()).sort()).toEqual(
      Object.keys(SCHEMA.records.params_alert).sort()
    );
    expect(Object.keys(paramLayer()).sort()).toEqual(
      Object.keys(SCHEMA.records.ParamLayer).sort()
    );
    expect(SCHEMA.records.params_watch.layers).toBe('list[ParamLayer]');
    expect(SCHEMA.records.params_watch.update).toBe('float|null');
    expect(SCHEMA.records.params_alert.step).toBe('int|null');
  });

  it('is plain JSON', () => {
    expect(JSON.parse(JSON.stringify(SCHEMA))).toEqual(SCHEMA);
  });
});

describe('parseMessage', () => {
  it('accepts a well-formed hello', () => {
    const r = parseMessage(hello());
    expect(r.ok).toBe(true);
    if (r.ok) {
      expect(r.msg.type).toBe('hello');
    }
  });

  it('accepts a batch carrying buffers records', () => {
    const r = parseMessage(JSON.parse(JSON.stringify(batch(3, [buffersRecord(), bufferAlert()]))));
    expect(r.ok).toBe(true);
    if (r.ok && r.msg.type === 'batch') {
      expect(r.msg.records.map(rec => rec.kind)).toEqual(['buffers', 'buffer_alert']);
    }
  });

  it('explains a version mismatch and how to fix it', () => {
    const r = parseMessage({ ...hello(), v: 2 });
    expect(r.ok).toBe(false);
    if (!r.ok) {
      expect(r.versionMismatch).toBe(true);
      expect(r.error).toContain('v2');
      expect(r.error).toContain(`v${PROTOCOL_VERSION}`);
      expect(r.error).toContain('install the same jaxinspect version');
      expect(r.error).toContain('restart the kernel');
      expect(r.error).toContain('reload the page');
    }
  });

  it('treats a missing version as a mismatch', () => {
    const r = parseMessage({ type: 'hello' });
    expect(r.ok).toBe(false);
    expect(!r.ok && r.versionMismatch).toBe(true);
  });

  it('rejects unknown types without calling them a mismatch', () => {
    const r = parseMessage({ v: PROTOCOL_VERSION, type: 'frobnicate' });
    expect(r.ok).toBe(false);
    if (!r.ok) {
      expect(r.versionMismatch).toBe(false);
      expect(r.error).toContain('unknown message type "frobnicate"');
    }
  });

  it('rejects non-objects and missing fields', () => {
    for (const bad of [null, 3, 'x', [1]]) {
      expect(parseMessage(bad).ok).toBe(false);
    }
    const r = parseMessage({ v: PROTOCOL_VERSION, type: 'batch', seq: 1 });
    expect(r.ok).toBe(false);
    expect(!r.ok && r.error).toContain('records, dropped');
  });
});
