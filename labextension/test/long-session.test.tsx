/**
 * A long session: 100 000 compile events (over 5 000 functions), 10 000 buffer snapshots and
 * 10 000 heartbeats, 2 000 remote records from 8 processes, arriving in batches as the kernel
 * sends them. The sidebar's model stays bounded and every tab renders a bounded page, so it stays
 * responsive however long the kernel has been running.
 */
import * as React from 'react';
import { renderToStaticMarkup } from 'react-dom/server';
import { describe, expect, it } from 'vitest';

import { SessionModel } from '../src/model';
import type { AnyRecord } from '../src/protocol';
import { CompilesView } from '../src/views/Compiles';
import { createDefaultTabs } from '../src/views/builtin';
import {
  batch,
  buffersRecord,
  compileEvent,
  compileStats,
  hello,
  processRecord,
  remote,
  status
} from './fixtures';

const actions = { loadExtension: () => undefined, reconnect: () => undefined };

describe('a long session', () => {
  it('keeps the model and every tab bounded', () => {
    const model = new SessionModel({ name: 'long.ipynb' });
    model.applyHello(hello());
    let seq = 0;
    const send = (records: AnyRecord[]) => model.applyBatch(batch(++seq, records));
    for (let i = 0; i < 100_000; i += 100) {
      const records: AnyRecord[] = [];
      for (let k = i; k < i + 100; k++) {
        const fun = `fn_${k % 5000}`;
        records.push(compileEvent({ id: k + 1, fun_key: fun, fun_name: fun }));
        if (k % 10 === 0) {
          records.push(compileStats({ fun_key: fun, fun_name: fun, compiles: Math.floor(k / 5000) + 1 }));
          records.push(buffersRecord({ seq: k / 10 + 1 }));
          records.push(status({ seq: k / 10 + 1 }));
        }
      }
      send(records);
    }
    for (let p = 1; p <= 8; p++) {
      const recs: AnyRecord[] = [processRecord({ id: p, process_index: p - 1 })];
      for (let k = 0; k < 250; k++) {
        recs.push(remote(p, compileEvent({ id: k + 1, fun_name: `step_${k % 30}`, fun_key: `k${k % 30}` })));
      }
      send(recs);
    }

    expect(model.compileEvents.length).toBe(model.capacities.compile);
    expect(model.records('compile').length).toBeLessThanOrEqual(model.capacities.compile);
    expect(model.bufferHistory.length).toBeLessThanOrEqual(1000);
    expect(model.processes.length).toBe(8);
    for (const proc of model.processes) {
      expect(proc.compiles.length).toBeLessThanOrEqual(200);
    }

    // every tab renders a bounded page with the newest data
    const compiles = renderToStaticMarkup(
      <CompilesView
        model={model}
        showInternal={false}
        selectedId={null}
        onSelect={() => undefined}
        onToggleInternal={() => undefined}
      />
    );
    expect(compiles).toContain('fn_4999');
    expect(compiles.length).toBeLessThan(1_000_000);
    for (const tab of createDefaultTabs().tabs) {
      const html = renderToStaticMarkup(
        React.createElement(tab.component, { model, now: Date.now(), actions })
      );
      expect(html.length, tab.id).toBeLessThan(1_000_000);
    }
  });
});
