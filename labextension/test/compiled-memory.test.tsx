/**
 * Compiled memory in the Compiles tab (issue 16): the kernel's memory line under each function
 * and in an event's details, shown verbatim; a memory alert stands beside the same function's
 * recompile alert instead of replacing it.
 */
import { renderToStaticMarkup } from 'react-dom/server';
import * as React from 'react';
import { describe, expect, it } from 'vitest';

import { SessionModel } from '../src/model';
import type { AnyRecord, ICompileEvent, ICompileStats } from '../src/protocol';
import { CompilesView, alertKey, compilesData } from '../src/views/Compiles';
import { batch, compileAlert, compileEvent, compileStats, hello } from './fixtures';

const MEMORY = {
  argument_bytes: 20000,
  output_bytes: 4,
  alias_bytes: 0,
  temp_bytes: 4016000,
  generated_code_bytes: 0,
  flops: 9004095,
  bytes_accessed: 8056268,
  device_limit_bytes: 6000000,
  platform: 'cpu',
  // as the kernel formats it (records.compiled_memory_text)
  text:
    'temporaries 3.8 MiB (67% of the limit) · arguments 19.5 KiB · outputs 4 B · aliased 0 B · ' +
    'code 0 B · 9 MFLOP · 7.7 MiB accessed · device limit 5.7 MiB'
};

function modelWith(records: AnyRecord[]): SessionModel {
  const model = new SessionModel();
  model.applyHello(hello());
  model.applyBatch(batch(1, records));
  return model;
}

function render(model: SessionModel, selectedId: number | null = null): string {
  return renderToStaticMarkup(
    <CompilesView
      model={model}
      showInternal={false}
      selectedId={selectedId}
      onSelect={() => undefined}
      onToggleInternal={() => undefined}
    />
  );
}

describe('Compiles tab: compiled memory', () => {
  const stats = {
    ...compileStats({ fun_key: 'k:step', fun_name: 'step' }),
    memory: MEMORY,
    peak_temp_bytes: MEMORY.temp_bytes,
    memory_text: MEMORY.text,
    notes: [`compiled: ${MEMORY.text}`]
  } as ICompileStats;
  const event = { ...compileEvent({ id: 7, fun_key: 'k:step', fun_name: 'step' }), memory: MEMORY } as ICompileEvent;

  it("shows the kernel's memory line under the function and in the event's details", () => {
    const plain = { ...compileStats({ fun_key: 'k:g', fun_name: 'g' }), memory: null, memory_text: null, notes: [] } as ICompileStats;
    const html = render(modelWith([stats, plain, event]), 7);
    expect(html).toContain(
      `data-testid="jaxinspect-compile-function-note" data-fun-name="step"><td colSpan="5">compiled: ${MEMORY.text}</td>`
    );
    // a function without numbers (a trace only, or an older kernel) gets no memory row
    expect(html).not.toContain('data-testid="jaxinspect-compile-function-note" data-fun-name="g"');
    expect(html).toContain(
      `<th scope="row">compiled memory</th><td title="${MEMORY.text}">${MEMORY.text}</td>`
    );
  });

  it("keeps a function's memory alert beside its recompile alert", () => {
    const memoryAlert = compileAlert({
      fun_key: 'k:step',
      fun_name: 'step',
      compiles: 1,
      reason_kind: 'memory',
      message: "`step`'s compiled temporaries alone take 3.8 MiB, 67% of the cpu device's 5.7 MiB memory limit",
      hint: 'rematerialize activations (jax.checkpoint / nnx.remat)'
    });
    const storm = compileAlert({ fun_key: 'k:step', fun_name: 'step', compiles: 6 });
    const newerStorm = compileAlert({ fun_key: 'k:step', fun_name: 'step', compiles: 11, message: '`step` recompiled 10 times' });
    const model = modelWith([stats, memoryAlert, storm, newerStorm]);
    const alerts = compilesData(model, false).alerts;
    expect(alerts.map(a => [a.reason_kind, a.compiles])).toEqual([
      ['shape', 11],
      ['memory', 1]
    ]);
    expect(new Set(alerts.map(alertKey)).size).toBe(2);
    const html = render(model);
    expect(html).toContain('data-reason-kind="memory"');
    expect(html).toContain("67% of the cpu device&#x27;s 5.7 MiB memory limit");
  });
});
