/**
 * Derived state arrives from the kernel: the sidebar shows quantities, places, reason names and
 * the processes' divergence marks exactly as the kernel wrote them (jaxinspect/units.py,
 * live/processtable.py; their rules are tested in tests/test_derived.py), and has no formatter of
 * its own for them. The same 1.5 GiB reads "1.5 GiB" in a cell and here.
 */

import * as React from 'react';
import { renderToStaticMarkup } from 'react-dom/server';
import { describe, expect, it } from 'vitest';

import { SessionModel } from '../src/model';
import type { AnyRecord } from '../src/protocol';
import { BuffersView } from '../src/views/Buffers';
import { CompilesView } from '../src/views/Compiles';
import { Overview } from '../src/views/Overview';
import * as format from '../src/views/format';
import { Processes, processesBadge } from '../src/views/Processes';
import {
  batch,
  buffersRecord,
  cellLocation,
  compileEvent,
  compileStats,
  deviceMemory,
  functionRow,
  hello,
  processFacts,
  processRecord,
  processesRecord,
  reason,
  status
} from './fixtures';
import { attrs, text } from './html';

const GiB = 1024 * 1024 * 1024;
const actions = { loadExtension: () => undefined, reconnect: () => undefined };

function modelWith(records: AnyRecord[]): SessionModel {
  const model = new SessionModel({ now: () => 1700000115_000 });
  model.applyHello(hello());
  model.applyBatch(batch(1, records));
  return model;
}

describe('derived state from the kernel', () => {
  it('has no formatter for kernel quantities, places or reason names', () => {
    for (const name of [
      'formatBytes',
      'formatCallSite',
      'reasonName',
      'reasonsSummary',
      'REASON_NAMES',
      'basename',
      'formatDuration',
      'formatSeconds',
      'formatCount',
      'formatNorm',
      'formatRatio'
    ]) {
      expect(name in format).toBe(false);
    }
  });

  it('shows 1.5 GiB as the kernel wrote it (the cell says "1.5 GiB" too)', () => {
    const bytes = 1.5 * GiB;
    const model = modelWith([
      buffersRecord({
        bytes,
        device_bytes: bytes,
        bytes_text: '1.5 GiB',
        device_bytes_text: '1.5 GiB',
        devices: [deviceMemory({ bytes, bytes_text: '1.5 GiB' })]
      })
    ]);
    const html = renderToStaticMarkup(
      <BuffersView model={model} interval={1} onInterval={() => undefined} />
    );
    expect(text(html, 'jaxinspect-buffers-total')).toBe('1.5 GiB on devices · 3 arrays');
    expect(html).toContain('>1.5 GiB<');
    expect(html).not.toContain('1.50 GiB'); // what the sidebar's own formatter used to say
  });

  it('shows the place, times, reason names and diff offer of a compile as they arrive', () => {
    const model = modelWith([
      compileEvent({
        id: 7,
        reasons: [reason({ kind: 'static_part', label: 'static field' })],
        location: 'cell [12] line 3',
        call: cellLocation(12, 3, 'y = f(x)'),
        total_text: '1.23 s',
        trace_text: 'T',
        lower_text: 'L',
        compile_text: 'C',
        diffable: true
      }),
      compileStats({ total_text: '9.99 s', reasons_text: 'static field ×1' })
    ]);
    const html = renderToStaticMarkup(
      <CompilesView
        model={model}
        showInternal={false}
        selectedId={7}
        onSelect={() => undefined}
        onToggleInternal={() => undefined}
        onDiff={() => undefined}
      />
    );
    for (const shown of ['cell [12] line 3', '1.23 s', '>T<', '>L<', '>C<', '9.99 s', 'static field ×1']) {
      expect(html).toContain(shown);
    }
    expect(html).toContain('<span class="jp-JaxInspect-reasonKind">static field</span>');
    expect(html).toContain('jaxinspect-compile-diff-button');
  });

  it('keeps the latest processes record and shows its divergence marks', () => {
    const model = modelWith([
      processRecord({ id: 1, process_index: 0 }),
      processRecord({ id: 2, process_index: 1 }),
      processesRecord({
        seq: 2,
        processes: [processFacts({ id: 1, compiles: 3 }), processFacts({ id: 2, process_index: 1 })],
        functions: [functionRow({ name: 'step', counts: { '1': 3 }, total: 3, differs: true })],
        differing: 1
      })
    ]);
    // a late (older) record never replaces a newer one
    model.applyBatch(batch(2, [processesRecord({ seq: 1, functions: [], differing: 0 })]));
    expect(model.processesSummary?.seq).toBe(2);
    expect(processesBadge(model)).toBe('2 ≠');
    const html = renderToStaticMarkup(
      <Processes model={model} now={1700000115_000} actions={actions} />
    );
    expect(attrs(html, 'jaxinspect-processes-function', 'data-differs')).toEqual(['true']);
    // the sidebar does not recount: counts the kernel did not send are blank, not computed
    model.applyBatch(batch(3, [processesRecord({ seq: 3, functions: [functionRow()], differing: 0 })]));
    expect(processesBadge(model)).toBe('2');
    // a new kernel session starts with none
    model.applyHello(hello());
    expect(model.processesSummary).toBeNull();
  });

  it('shows the cell time as the kernel wrote it', () => {
    const model = modelWith([
      status({ seq: 5, busy: true, cell_elapsed_s: 12.3456, cell_elapsed_text: '12.35 s' })
    ]);
    const html = renderToStaticMarkup(
      <Overview model={model} now={1700000115_000} actions={actions} />
    );
    expect(text(html, 'jaxinspect-cell-elapsed')).toBe('12.35 s');
  });
});
