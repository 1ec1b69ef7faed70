import * as React from 'react';
import { renderToStaticMarkup } from 'react-dom/server';
import { describe, expect, it, vi } from 'vitest';

import { SessionModel } from '../src/model';
import type { IProcessFacts, IProcessesSummary } from '../src/model';
import type { AnyRecord } from '../src/protocol';
import { createDefaultTabs } from '../src/views/builtin';
import { TabStrip } from '../src/views/tabstrip';
import { formatAge, formatClock } from '../src/views/format';
import {
  DIFFERS_TEXT,
  EMPTY_TEXT,
  HINT_TEXT,
  IPP_HINT_TEXT,
  MAX_ALERT_ROWS,
  MAX_FUNCTION_ROWS,
  MAX_PROCESS_COLUMNS,
  NOT_CONNECTED_TEXT,
  ASK_STACKS_TIMEOUT_S,
  Processes,
  activityTone,
  askNote,
  processesBadge,
  processesBadgeTitle,
  processesSummary
} from '../src/views/Processes';
import {
  batch,
  bufferAlert,
  buffersRecord,
  compileAlert,
  compileEvent,
  compileStats,
  deviceMemory,
  functionRow,
  hello,
  keyReuse,
  paramsAlert,
  processFacts,
  processRecord,
  processesRecord,
  reason,
  remote,
  stuckFacts
} from './fixtures';
import { attrs, count, element, findAll, text } from './html';

const actions = { loadExtension: () => undefined, reconnect: () => undefined };

/** `Date.now()` in the tests: 10 s after the fixtures' last_seen. */
const NOW = 1700000115_000;

function modelWith(records: AnyRecord[]): SessionModel {
  const model = new SessionModel({ now: () => NOW });
  model.applyHello(hello());
  model.applyBatch(batch(1, records));
  return model;
}

/** The wide (main-area) view: one column per process, side by side; the narrow sidebar's cards
 * are tested in layout.test.tsx. */
function render(model: SessionModel | null, now = NOW): string {
  return renderToStaticMarkup(<Processes model={model} now={now} actions={actions} wide />);
}

/** The text of each cell of the side-by-side table's row `row`, by process column. */
function rowCells(html: string, row: string): string[] {
  const tr = element(html, 'jaxinspect-processes-row', 'data-row', row);
  // (a title may hold a newline: a place, then its line's code)
  return Array.from(tr.matchAll(/<td[^>]*>([\s\S]*?)<\/td>/g), m => m[1].replace(/<[^>]*>/g, ''));
}

/**
 * Two processes (ids 1 and 2, p0 and p1) that compiled `step` and `init`, and the `processes`
 * record the kernel's collector sends for them (its rules are tested in tests/test_derived.py:
 * a count absent on one process differs, differing functions first, then most compiles, then
 * by name).
 */
function twoProcesses(stepCounts: [number, number], extra: AnyRecord[] = []): SessionModel {
  const [a, b] = stepCounts;
  const counts = (x: number, y: number) => ({ ...(x ? { '1': x } : {}), ...(y ? { '2': y } : {}) });
  const step = functionRow({ name: 'step', counts: counts(a, b), total: a + b, differs: a !== b });
  const init = functionRow({ name: 'init', counts: counts(1, 1), total: 2 });
  return modelWith([
    processRecord({ id: 1, process_index: 0, host: 'host-a', pid: 11 }),
    processRecord({ id: 2, process_index: 1, host: 'host-b', pid: 22 }),
    remote(1, compileStats({ fun_key: 'a:step', fun_name: 'step', compiles: a })),
    remote(2, compileStats({ fun_key: 'b:step', fun_name: 'step', compiles: b })),
    remote(1, compileStats({ fun_key: 'a:init', fun_name: 'init', compiles: 1 })),
    remote(2, compileStats({ fun_key: 'b:init', fun_name: 'init', compiles: 1 })),
    processesRecord({
      processes: [processFacts({ id: 1 }), processFacts({ id: 2, process_index: 1 })],
      functions: a !== b || a + b > 2 ? [step, init] : [init, step],
      differing: a !== b ? 1 : 0
    }),
    ...extra
  ]);
}

const EVIL = '<img src=x onerror=alert(1)>';
const EVIL_TEXT = '&lt;img src=x onerror=alert(1)&gt;';

describe('Processes tab', () => {
  it('asks for a notebook and points to Overview when not connected', () => {
    expect(render(null)).toContain('Open a notebook to inspect its kernel');
    const model = new SessionModel();
    model.setState('not-loaded');
    const html = render(model);
    expect(html).toContain(NOT_CONNECTED_TEXT);
    expect(html).not.toContain('jaxinspect-processes-empty');
  });

  it('explains how to publish processes here when there are none', () => {
    const html = render(modelWith([]));
    expect(text(html, 'jaxinspect-processes-empty')).toBe(EMPTY_TEXT);
    expect(EMPTY_TEXT).toBe('No processes are publishing here.');
    expect(text(html, 'jaxinspect-processes-hint')).toBe(HINT_TEXT);
    expect(HINT_TEXT).toBe(
      'In this notebook: c = jaxinspect.collect_processes(); pass c.env to each process ' +
        '(or set JAXINSPECT_COLLECTOR=c.address); in each process: import jaxinspect; ' +
        'jaxinspect.connect()'
    );
    expect(html).toContain('<code>c = jaxinspect.collect_processes()</code>');
    expect(html).not.toContain('jaxinspect-processes-table');
    expect(html).not.toContain('jaxinspect-processes-summary');
  });

  it('shows the summary line the kernel wrote, with what the sidebar did not keep', () => {
    // (how the kernel writes it, e.g. "job of 4", is tested in tests/test_derived.py)
    const model = modelWith([
      processRecord({ id: 1, process_index: 0, process_count: 3 }),
      processRecord({ id: 2, process_index: 1, process_count: 3 }),
      processRecord({ id: 3, process_index: 2, process_count: 3, state: 'lost' }),
      processesRecord({ summary: '3 processes · 2 connected · 1 lost' })
    ]);
    // the panel's heading says "Processes: 3 processes": the line does not say it again
    expect(text(render(model), 'jaxinspect-processes-summary')).toBe('2 connected · 1 lost');
    expect(processesSummary(model.processesSummary, model.processes, 4)).toBe(
      '2 connected · 1 lost · 4 older not kept'
    );
    // a count other than the heading's is not a repeat: it stays
    expect(
      processesSummary({ ...model.processesSummary!, summary: '5 processes · 5 connected' }, model.processes)
    ).toBe('5 processes · 5 connected');
    // before the kernel's first summary arrives: nothing beyond the heading's count, so no line
    const one = modelWith([processRecord({ process_count: 1 })]);
    expect(render(one)).not.toContain('jaxinspect-processes-summary');
    expect(processesSummary(one.processesSummary, one.processes, 2)).toBe('2 older not kept');
    // a single process: its card says its state and that it is stuck; "job of 4" is news
    const alone = modelWith([
      processRecord({ id: 1, process_index: 0, process_count: 4 }),
      processesRecord({
        summary: '1 process · 1 connected · 1 stuck · job of 4',
        processes: [stuckFacts({ id: 1 })],
        stuck: [1]
      })
    ]);
    for (const html of [render(alone), renderNarrow(alone)]) {
      expect(text(html, 'jaxinspect-processes-summary')).toBe('job of 4');
    }
    const calm = modelWith([
      processRecord({ id: 1, process_index: 0 }),
      processesRecord({ summary: '1 process · 1 connected', processes: [processFacts({ id: 1 })] })
    ]);
    expect(renderNarrow(calm)).not.toContain('jaxinspect-processes-summary');
  });

  it('shows one column per process, side by side', () => {
    const model = twoProcesses([3, 3], [
      remote(
        1,
        compileStats({ fun_key: 'a:bc', fun_name: 'broadcast_in_dim', internal: true, compiles: 9 })
      ),
      remote(
        1,
        compileEvent({
          id: 1,
          fun_name: 'init',
          reasons: [reason({ kind: 'first_call', message: 'first call' })]
        })
      ),
      remote(1, compileEvent({ id: 2, fun_name: 'step', reasons: [reason()] })),
      remote(1, compileEvent({ id: 3, fun_name: 'broadcast_in_dim', internal: true })),
      remote(1, compileEvent({ id: 4, fun_name: 'noreason', reasons: [] })),
      remote(
        1,
        buffersRecord({
          arrays: 7,
          bytes: 3 * 1024 * 1024,
          devices: [
            deviceMemory({
              device: 'cuda:0',
              bytes_in_use: 1024,
              peak_bytes_in_use: 4096,
              bytes_limit: 8192
            }),
            deviceMemory({
              device: 'cuda:1',
              id: 1,
              bytes_in_use: 2048,
              peak_bytes_in_use: 1024,
              bytes_limit: 8192
            })
          ]
        })
      ),
      remote(2, buffersRecord({ arrays: 2, bytes: 100 })),
      remote(2, bufferAlert()),
      // what the kernel's collector derived from the records above (tests/test_derived.py)
      processesRecord({
        seq: 2,
        processes: [
          processFacts({
            id: 1,
            compiles: 4,
            internal_compiles: 9,
            compile_text: '40.6 ms',
            last_recompile: 'step: `x` changed shape (3,) → (4,)',
            arrays: 7,
            bytes_text: '3.0 MiB',
            in_use_text: '3.0 KiB',
            peak_text: '5.0 KiB'
          }),
          processFacts({
            id: 2,
            process_index: 1,
            compiles: 4,
            compile_text: '40.6 ms',
            arrays: 2,
            bytes_text: '100 B',
            in_use_text: 'n/a (CPU)',
            peak_text: 'n/a (CPU)',
            alerts: 1
          })
        ]
      })
    ]);
    const html = render(model);
    expect(count(html, 'jaxinspect-processes-table')).toBe(1);
    const head1 = text(html, 'jaxinspect-processes-col-1');
    expect(head1).toBe('p0host-a:11');
    expect(html).toContain('<div class="jp-JaxInspect-processLabel">p0</div>');
    expect(text(html, 'jaxinspect-processes-col-2')).toBe('p1host-b:22');
    expect(attrs(html, 'jaxinspect-processes-col-1', 'data-process-index')).toEqual(['0']);
    expect(attrs(html, 'jaxinspect-processes-col-2', 'data-state')).toEqual(['connected']);
    // columns come in process_index order
    expect(html.indexOf('jaxinspect-processes-col-1')).toBeLessThan(
      html.indexOf('jaxinspect-processes-col-2')
    );
    expect(attrs(html, 'jaxinspect-processes-row', 'data-row')).toEqual([
      'state',
      'activity',
      'where',
      'last-step',
      'last-compile',
      'backend',
      'compiles',
      'compile-time',
      'last-recompile',
      'arrays',
      'bytes',
      'in-use',
      'peak',
      'alerts',
      'records'
    ]);
    // both sent records "now" (the model's clock), later than their process records' last_seen
    expect(rowCells(html, 'state')).toEqual(['connected · 0.0 s ago', 'connected · 0.0 s ago']);
    expect(rowCells(html, 'backend')).toEqual(['cpu · 2 devices', 'cpu · 2 devices']);
    // JAX-internal compiles are left out (but named in the title)
    expect(rowCells(html, 'compiles')).toEqual(['4', '4']);
    expect(element(html, 'jaxinspect-processes-row', 'data-row', 'compiles')).toContain(
      'title="plus 9 JAX-internal compiles"'
    );
    expect(rowCells(html, 'compile-time')).toEqual(['40.6 ms', '40.6 ms']);
    // (its quoted name shown as a name: code, no backticks)
    expect(rowCells(html, 'last-recompile')).toEqual(['step: x changed shape (3,) → (4,)', '–']);
    expect(element(html, 'jaxinspect-processes-row', 'data-row', 'last-recompile')).toContain(
      '<code class="jp-JaxInspect-name" title="x">x</code> changed shape'
    );
    expect(rowCells(html, 'arrays')).toEqual(['7', '2']);
    expect(rowCells(html, 'bytes')).toEqual(['3.0 MiB', '100 B']);
    expect(rowCells(html, 'in-use')).toEqual(['3.0 KiB', 'n/a (CPU)']);
    expect(rowCells(html, 'peak')).toEqual(['5.0 KiB', 'n/a (CPU)']);
    expect(rowCells(html, 'alerts')).toEqual(['0', '1']);
    // records: what the collector counted, or more when the sidebar has seen more since
    expect(rowCells(html, 'records')).toEqual(['10 / 0', '10 / 0']);
    // the wide table scrolls sideways
    expect(html).toMatch(
      /<div class="jp-JaxInspect-processesScroll"><table class="jp-JaxInspect-table jp-JaxInspect-processesTable" data-testid="jaxinspect-processes-table"/
    );
  });

  it('shows "–" for a process that sent nothing yet, and placeholders as "?"', () => {
    const model = modelWith([
      processRecord({ id: 1, devices: [], backend: null, dropped: 3 }),
      remote(7, { kind: 'frobnicate' }, 4)
    ]);
    const html = render(model);
    expect(rowCells(html, 'backend')).toEqual(['? · 0 devices', '? · 0 devices']);
    expect(rowCells(html, 'arrays')).toEqual(['–', '–']);
    expect(rowCells(html, 'in-use')).toEqual(['–', '–']);
    expect(rowCells(html, 'last-recompile')).toEqual(['–', '–']);
    expect(rowCells(html, 'records')).toEqual(['10 / 3', '1 / 0']);
    expect(text(html, 'jaxinspect-processes-col-7')).toBe('p4?:?');
    expect(html).toContain('class="jp-JaxInspect-errorText">3</span>');
    expect(html).not.toContain('jaxinspect-processes-compiles"');
    expect(html).not.toContain('jaxinspect-processes-memory"');
    expect(html).not.toContain('jaxinspect-processes-alerts');
  });

  it('marks a lost process and dims its column', () => {
    const model = modelWith([
      processRecord({ id: 1, process_index: 0 }),
      processRecord({ id: 2, process_index: 1, state: 'lost', last_seen: 1700000111.0 }),
      processRecord({ id: 3, process_index: 2, state: 'closed' })
    ]);
    const html = render(model);
    const states = rowCells(html, 'state');
    // last seen from the process record (nothing received since)
    expect(states[0]).toBe('connected · 10 s ago');
    expect(formatAge(1700000105_000, NOW)).toBe('10 s ago');
    expect(states[1]).toBe(`lost — connection dropped at ${formatClock(1700000111.0)}`);
    expect(formatClock(1700000111.0)).toMatch(/^\d\d:\d\d:\d\d$/);
    expect(states[2]).toBe(`closed · ${formatAge(1700000105_000, NOW)}`);
    expect(html).toMatch(
      /class="jp-JaxInspect-processCol jp-JaxInspect-processLost" data-testid="jaxinspect-processes-col-2"/
    );
    expect(html).toMatch(
      /class="jp-JaxInspect-processCol" data-testid="jaxinspect-processes-col-1"/
    );
    const stateRow = element(html, 'jaxinspect-processes-row', 'data-row', 'state');
    expect(stateRow).toContain(
      'class="jp-JaxInspect-processCell jp-JaxInspect-processLost" data-process-id="2"'
    );
    expect(stateRow).toContain('class="jp-JaxInspect-processCell" data-process-id="1"');
    expect(stateRow).toContain('jp-JaxInspect-processState-lost');
    expect(stateRow).toContain('jp-JaxInspect-processState-other');
  });

  it('marks a function whose compile counts differ across processes', () => {
    const html = render(twoProcesses([1, 0]));
    // the differing function comes first even with fewer compiles
    expect(attrs(html, 'jaxinspect-processes-function', 'data-fun-name')).toEqual([
      'step',
      'init'
    ]);
    const equal = render(twoProcesses([1, 1]));
    expect(attrs(equal, 'jaxinspect-processes-function', 'data-fun-name')).toEqual([
      'init',
      'step'
    ]);
    expect(attrs(html, 'jaxinspect-processes-function', 'data-differs')).toEqual([
      'true',
      'false'
    ]);
    const step = element(html, 'jaxinspect-processes-function', 'data-fun-name', 'step');
    expect(step).toContain(DIFFERS_TEXT);
    expect(DIFFERS_TEXT).toBe('≠ differs across processes');
    expect(Array.from(step.matchAll(/<td[^>]*data-process-id[^>]*>([^<]*)</g), m => m[1])).toEqual(
      ['1', '']
    );
    const init = element(html, 'jaxinspect-processes-function', 'data-fun-name', 'init');
    expect(init).not.toContain(DIFFERS_TEXT);
    expect(count(html, 'jaxinspect-processes-differs')).toBe(1);
    expect(text(html, 'jaxinspect-processes-differs-summary')).toContain(
      '1 function was compiled a different number of times across processes'
    );
    expect(processesBadge(twoProcesses([5, 3]))).toBe('2 ≠');
  });

  it('shows no marker when every process compiled as often', () => {
    const model = twoProcesses([4, 4]);
    const html = render(model);
    expect(attrs(html, 'jaxinspect-processes-function', 'data-differs')).toEqual([
      'false',
      'false'
    ]);
    expect(html).not.toContain(DIFFERS_TEXT);
    expect(html).not.toContain('jaxinspect-processes-differs');
    expect(processesBadge(model)).toBe('2');
    // a process that never compiled a function differs from one that did (blank cell)
    const missing = twoProcesses([2, 0]);
    const row = element(render(missing), 'jaxinspect-processes-function', 'data-fun-name', 'step');
    expect(row).toContain('data-differs="true"');
    expect(Array.from(row.matchAll(/<td[^>]*data-process-id[^>]*>([^<]*)</g), m => m[1])).toEqual(
      ['2', '']
    );
    // (that one process never differs is the kernel's rule: tests/test_derived.py)
  });

  it('shows the reason the kernel chose and the process it came from', () => {
    // the kernel picks the newest reason of the process that compiled the function most
    const model = twoProcesses([2, 6], [
      processesRecord({
        seq: 2,
        functions: [
          functionRow({
            counts: { '1': 2, '2': 6 },
            total: 8,
            differs: true,
            reason: 'from p1',
            reason_from: 2
          })
        ],
        differing: 1
      })
    ]);
    const row = element(render(model), 'jaxinspect-processes-function', 'data-fun-name', 'step');
    expect(row).toContain('>from p1</td>');
    expect(row).toContain('title="from p1"');
  });

  it('keeps the order the kernel sent, and bounds it with what the kernel left out', () => {
    const records: AnyRecord[] = [processRecord({ id: 1 }), processRecord({ id: 2, process_index: 1 })];
    const functions = [];
    for (let i = 0; i < MAX_FUNCTION_ROWS + 7; i++) {
      functions.push(functionRow({ name: `f${String(i).padStart(2, '0')}`, differs: i < 2 }));
    }
    records.push(processesRecord({ functions, differing: 2 }));
    const html = render(modelWith(records));
    const names = attrs(html, 'jaxinspect-processes-function', 'data-fun-name');
    expect(MAX_FUNCTION_ROWS).toBe(50);
    expect(names).toHaveLength(50);
    expect(names.slice(0, 3)).toEqual(['f00', 'f01', 'f02']);
    expect(attrs(html, 'jaxinspect-processes-function', 'data-differs').slice(0, 3)).toEqual([
      'true',
      'true',
      'false'
    ]);
    expect(text(html, 'jaxinspect-processes-compiles-more')).toBe('7 more');
    // the kernel bounds its list too (50 rows): its "more" is added, never recounted
    const bounded = processesRecord({ functions: functions.slice(0, 50), more_functions: 7, differing: 2 });
    const again = render(modelWith([...records.slice(0, 2), bounded]));
    expect(text(again, 'jaxinspect-processes-compiles-more')).toBe('7 more');
  });

  it('says how many differing functions the bound left out', () => {
    const records: AnyRecord[] = [processRecord({ id: 1 }), processRecord({ id: 2, process_index: 1 })];
    const functions = Array.from({ length: MAX_FUNCTION_ROWS }, (_, i) =>
      functionRow({ name: `f${i}`, counts: { '1': 2 }, differs: true })
    );
    records.push(
      processesRecord({ functions, more_functions: 3, more_differing: 3, differing: MAX_FUNCTION_ROWS + 3 })
    );
    const html = render(modelWith(records));
    expect(text(html, 'jaxinspect-processes-compiles-more')).toBe(
      '3 more (3 of them differ across processes)'
    );
    expect(text(html, 'jaxinspect-processes-differs-summary')).toContain(
      `${MAX_FUNCTION_ROWS + 3} functions were compiled a different number of times`
    );
  });

  it('lists the memory of each process device', () => {
    const model = modelWith([
      processRecord({ id: 1, process_index: 0 }),
      processRecord({ id: 2, process_index: 1 }),
      remote(
        1,
        buffersRecord({
          devices: [
            deviceMemory({
              device: 'cuda:0',
              arrays: 4,
              bytes: 2048,
              bytes_in_use: 4096,
              peak_bytes_in_use: 8192,
              bytes_limit: 1 << 30,
              bytes_text: '2.0 KiB',
              in_use_text: '4.0 KiB',
              peak_text: '8.0 KiB',
              limit_text: '1.0 GiB'
            })
          ]
        })
      ),
      remote(
        2,
        buffersRecord({
          devices: [deviceMemory({ device: 'cpu:0' }), deviceMemory({ device: 'cpu:1', id: 1 })]
        })
      )
    ]);
    const html = render(model);
    expect(count(html, 'jaxinspect-processes-memory')).toBe(1);
    expect(attrs(html, 'jaxinspect-processes-memory-row', 'data-device')).toEqual([
      'cuda:0',
      'cpu:0',
      'cpu:1'
    ]);
    expect(attrs(html, 'jaxinspect-processes-memory-row', 'data-process-id')).toEqual([
      '1',
      '2',
      '2'
    ]);
    const gpu = element(html, 'jaxinspect-processes-memory-row', 'data-process-id', '1');
    expect(Array.from(gpu.matchAll(/<td[^>]*>([^<]*)</g), m => m[1])).toEqual([
      'p0',
      'cuda:0',
      '4',
      '2.0 KiB',
      '4.0 KiB',
      '8.0 KiB',
      '1.0 GiB'
    ]);
    const cpu = element(html, 'jaxinspect-processes-memory-row', 'data-process-id', '2');
    expect(Array.from(cpu.matchAll(/<td[^>]*>([^<]*)</g), m => m[1])).toEqual([
      'p1',
      'cpu:0',
      '3',
      '4.0 MiB',
      '',
      '',
      ''
    ]);
  });

  it('lists the alerts of all processes, newest first', () => {
    const model = modelWith([
      processRecord({ id: 1, process_index: 0 }),
      processRecord({ id: 2, process_index: 1 }),
      remote(1, compileAlert({ message: 'f recompiled 5 times' })),
      remote(2, bufferAlert({ message: 'losses grew' })),
      remote(1, paramsAlert({ message: 'params turned NaN' })),
      remote(2, keyReuse({ message: 'key reused' })),
      remote(1, { kind: 'internal_error', where: 'sampler', message: 'boom', count: 1 })
    ]);
    const html = render(model);
    expect(count(html, 'jaxinspect-processes-alerts')).toBe(1);
    const texts: string[] = [];
    let at = 0;
    for (let i = 0; i < 5; i++) {
      at = html.indexOf('data-testid="jaxinspect-processes-alert"', at) + 1;
      texts.push(text(html, 'jaxinspect-processes-alert', at - 1));
    }
    expect(texts).toEqual([
      'p0: sampler: boom',
      'p1: key reused',
      'p0: params turned NaN',
      'p1: losses grew',
      'p0: f recompiled 5 times'
    ]);
    expect(attrs(html, 'jaxinspect-processes-alert', 'data-kind')).toEqual([
      'internal_error',
      'key_reuse',
      'params_alert',
      'buffer_alert',
      'compile_alert'
    ]);
    expect(attrs(html, 'jaxinspect-processes-alert', 'data-process-id')).toEqual([
      '1',
      '2',
      '1',
      '2',
      '1'
    ]);
    expect(html).toContain('title="fix: pad `x` to a fixed size or mark it static"');
  });

  it('bounds the alerts', () => {
    const records: AnyRecord[] = [processRecord({ id: 1 })];
    for (let i = 0; i < MAX_ALERT_ROWS + 4; i++) {
      records.push(remote(1, bufferAlert({ id: i, message: `m${i}` })));
    }
    const html = render(modelWith(records));
    expect(MAX_ALERT_ROWS).toBe(20);
    expect(count(html, 'jaxinspect-processes-alert')).toBe(20);
    expect(text(html, 'jaxinspect-processes-alert')).toBe(`p0: m${MAX_ALERT_ROWS + 3}`);
    expect(text(html, 'jaxinspect-processes-alert-more')).toBe('4 more');
  });

  it('bounds the columns', () => {
    const records: AnyRecord[] = [];
    for (let id = 1; id <= MAX_PROCESS_COLUMNS + 3; id++) {
      records.push(processRecord({ id, process_index: id - 1 }));
    }
    const html = render(modelWith(records));
    expect(count(html, `jaxinspect-processes-col-${MAX_PROCESS_COLUMNS}`)).toBe(1);
    expect(count(html, `jaxinspect-processes-col-${MAX_PROCESS_COLUMNS + 1}`)).toBe(0);
    expect(text(html, 'jaxinspect-processes-columns-more')).toBe('3 more processes not shown');
  });

  it('warns when two connected processes claim one process index', () => {
    const html = render(
      modelWith([
        processRecord({ id: 1, process_index: 0 }),
        processRecord({ id: 2, process_index: 0 }),
        processRecord({ id: 3, process_index: 1, state: 'lost' }),
        processRecord({ id: 4, process_index: 1 }),
        // the kernel counts the claims (tests/test_derived.py): p1's lost claimant does not count
        processesRecord({ duplicates: { '0': 2 } })
      ])
    );
    expect(count(html, 'jaxinspect-processes-duplicate')).toBe(1);
    expect(text(html, 'jaxinspect-processes-duplicate')).toBe(
      'p0 is claimed by 2 connected processes'
    );
  });

  it('renders strings from other processes as text', () => {
    const model = modelWith([
      processRecord({
        id: 1,
        host: EVIL,
        state: EVIL,
        backend: EVIL,
        devices: [EVIL],
        jax_version: EVIL,
        note: EVIL
      }),
      processRecord({ id: 2, process_index: 1, host: EVIL }),
      remote(
        1,
        compileStats({ fun_name: EVIL, compiles: 2, last_reasons: [reason({ message: EVIL })] })
      ),
      remote(2, compileStats({ fun_name: EVIL, compiles: 1 })),
      remote(1, compileEvent({ fun_name: EVIL, reasons: [reason({ message: EVIL })] })),
      remote(1, buffersRecord({ devices: [deviceMemory({ device: EVIL })] })),
      remote(1, compileAlert({ message: EVIL, hint: EVIL })),
      remote(1, { kind: 'internal_error', where: EVIL, message: EVIL, count: 1 }),
      processesRecord({
        processes: [processFacts({ id: 1, last_recompile: `${EVIL}: ${EVIL}`, bytes_text: EVIL })],
        functions: [functionRow({ name: EVIL, counts: { '1': 2, '2': 1 }, differs: true, reason: EVIL })],
        differing: 1
      })
    ]);
    const html = render(model);
    expect(html).not.toContain('<img');
    expect(html).toContain(EVIL_TEXT);
    expect(text(html, 'jaxinspect-processes-col-1')).toBe(`p0${EVIL_TEXT}:4242`);
    expect(attrs(html, 'jaxinspect-processes-function', 'data-fun-name')).toEqual([EVIL_TEXT]);
    expect(attrs(html, 'jaxinspect-processes-memory-row', 'data-device')).toEqual([EVIL_TEXT]);
    expect(rowCells(html, 'last-recompile')[0]).toBe(`${EVIL_TEXT}: ${EVIL_TEXT}`);
    expect(rowCells(html, 'state')[0]).toContain(EVIL_TEXT);
    expect(text(html, 'jaxinspect-processes-note')).toBe(EVIL_TEXT);
    // an unknown state gets the neutral class, never the process's string as a class
    expect(html).not.toMatch(/class="[^"]*&lt;/);
    expect(html).toContain('jp-JaxInspect-processState-other');
    expect(html).toContain(`p0: ${EVIL_TEXT}: ${EVIL_TEXT}`);

    // no element is made from them: every element in the tree is one the view chose
    const tree = <Processes model={model} now={NOW} actions={actions} wide />;
    const types = new Set(findAll(tree, () => true).map(el => String(el.type)));
    expect(types.has('img')).toBe(false);
    const allowed = ['div', 'p', 'section', 'h3', 'table', 'thead', 'tbody', 'tr', 'th', 'td', 'span'];
    for (const t of types) {
      // fragments show up as Symbol(react.fragment)
      expect(allowed).toContain(t.startsWith('Symbol(') ? 'span' : t);
    }
  });

  it('is registered as the "Processes" tab after Keys, with a badge', () => {
    expect(processesBadge(null)).toBeNull();
    expect(processesBadge(modelWith([]))).toBeNull();
    expect(processesBadge(modelWith([processRecord()]))).toBe('1');
    const tabs = createDefaultTabs().tabs;
    const tab = tabs[tabs.length - 1];
    expect(tab.id).toBe('processes');
    expect(tab.label).toBe('Processes');
    expect(tab.rank).toBe(50);
    expect(tab.component).toBe(Processes);
    expect(tab.badge).toBe(processesBadge);
  });
});

/** The classes of the stuck / lost marks beside the processes' labels, in document order. */
function markClasses(html: string): string[] {
  return Array.from(
    html.matchAll(/class="([^"]*)" data-testid="jaxinspect-process-mark"/g),
    m => m[1]
  );
}

/** The narrow sidebar's cards (the form the sidebar shows at 250–400 px). */
function renderNarrow(model: SessionModel | null, now = NOW, acts: any = actions): string {
  return renderToStaticMarkup(<Processes model={model} now={now} actions={acts} />);
}

/**
 * Two ipyparallel engines (connection ids 1 and 2: engine 0 · p0 and engine 1 · p1); engine 1
 * waits at cell [3] line 7 and the kernel marked it stuck, with `facts` for engine 0.
 */
function enginesStuck(
  engine0: Partial<IProcessFacts> = {},
  summary: Partial<IProcessesSummary> = {}
): SessionModel {
  return modelWith([
    processRecord({ id: 1, process_index: 0, engine_id: 0, host: 'host-a', pid: 11 }),
    processRecord({ id: 2, process_index: 1, engine_id: 1, host: 'host-b', pid: 22 }),
    processesRecord({
      processes: [
        processFacts({
          id: 1,
          process_index: 0,
          engine_id: 0,
          activity: 'idle',
          activity_text: 'idle · waits for the others at the next collective',
          last_step_text: 'step 42 · 1 s ago',
          last_compile_text: 'step · 20 s ago',
          stack: '  cell [3] line 9, in <module>\n    step(x)',
          stack_reason: 'asked',
          stack_age_s: 2,
          ...engine0
        }),
        stuckFacts({ id: 2, process_index: 1, engine_id: 1 })
      ],
      stuck: [2],
      diagnosis:
        'engine 1 · p1 has waited 14 s at cell [3] line 7 (step); engine 0 · p0 is not there: idle, last step 42',
      ...summary
    })
  ]);
}

describe('Processes tab: engines, liveness, the stuck process and the stacks', () => {
  it('labels each process by its kernel label everywhere: cards, columns, memory, alerts', () => {
    const records: AnyRecord[] = [
      processRecord({ id: 1, process_index: 0, engine_id: 3 }),
      processRecord({ id: 2, process_index: 1, engine_id: 5 }),
      remote(1, buffersRecord({ devices: [deviceMemory({ device: 'TFRT_CPU_0' })] })),
      remote(2, compileAlert({ message: 'step recompiled' })),
      processesRecord({
        processes: [
          processFacts({ id: 1, process_index: 0, engine_id: 3 }),
          processFacts({ id: 2, process_index: 1, engine_id: 5 })
        ],
        functions: [functionRow({ counts: { '1': 1, '2': 2 }, total: 3, differs: true, reason_from: 2 })],
        differing: 1
      })
    ];
    const model = modelWith(records);
    for (const html of [render(model), renderNarrow(model)]) {
      expect(html).toContain('engine 3 · p0');
      expect(text(html, 'jaxinspect-processes-col-2')).toContain('engine 5 · p1');
      // the compiles-by-function columns
      const compiles = html.slice(html.indexOf('data-testid="jaxinspect-processes-compiles"'));
      expect(compiles).toMatch(/<th[^>]*data-process-id="1"[^>]*>engine 3 · p0<\/th>/);
      expect(compiles).toContain('data-label="engine 5 · p1"');
      // memory rows and alerts
      const mem = element(html, 'jaxinspect-processes-memory-row', 'data-process-id', '1');
      expect(mem).toContain('>engine 3 · p0</td>');
      expect(text(html, 'jaxinspect-processes-alert')).toBe('engine 5 · p1: step recompiled');
    }
    const card = text(renderNarrow(model), 'jaxinspect-processes-col-1');
    expect(card.startsWith('engine 3 · p0')).toBe(true);
    // the facts' label first, else the process record's, else "p<index>"
    const fallback = modelWith([
      processRecord({ id: 1, process_index: 0, engine_id: 7 }),
      processRecord({ id: 2, process_index: 1, label: '' }),
      processesRecord({ processes: [processFacts({ id: 1, label: '' })] })
    ]);
    const fb = renderNarrow(fallback);
    expect(text(fb, 'jaxinspect-processes-col-1').startsWith('engine 7 · p0')).toBe(true);
    expect(text(fb, 'jaxinspect-processes-col-2').startsWith('p1')).toBe(true);
    // loopback processes keep "p0"
    const loop = renderNarrow(twoProcesses([1, 1]));
    expect(text(loop, 'jaxinspect-processes-col-1').startsWith('p0host-a')).toBe(true);
    expect(loop).not.toContain('engine');
  });

  it('says "done" for a process that said goodbye and "lost" for one that went away', () => {
    const model = modelWith([
      processRecord({ id: 1, process_index: 0, state: 'done', last_seen: 1700000055.0 }),
      processRecord({ id: 2, process_index: 1, state: 'lost', last_seen: 1700000105.0 })
    ]);
    const html = render(model);
    const [done, lost] = rowCells(html, 'state');
    expect(done).toBe('done · 60 s ago');
    expect(lost).toBe(`lost — connection dropped at ${formatClock(1700000105.0)}`);
    expect(html).not.toContain('closed');
    const stateRow = element(html, 'jaxinspect-processes-row', 'data-row', 'state');
    expect(stateRow).toContain('jp-JaxInspect-processState-done');
    expect(stateRow).toContain('jp-JaxInspect-processState-lost');
    // a lost process is marked in words beside its label, not by colour alone
    expect(text(html, 'jaxinspect-processes-col-2')).toContain('lost');
    expect(markClasses(renderNarrow(model))).toEqual([
      'jp-JaxInspect-processMark jp-JaxInspect-processMark-lost'
    ]);
  });

  it('shows each process\'s liveness: the kernel\'s sentence marked by activity, where, last step and compile', () => {
    const tones: [string, string][] = [
      ['stuck', 'error'],
      ['lost', 'error'],
      ['waiting', 'warn'],
      ['silent', 'warn'],
      ['done', 'muted'],
      ['idle', 'muted'],
      ['running', 'normal'],
      ['compiling', 'normal'],
      ['connected', 'normal']
    ];
    for (const [activity, tone] of tones) {
      expect(activityTone(activity)).toBe(tone);
      const sentence = `${activity} 14 s at cell [3] line 7 (step)`;
      const model = modelWith([
        processRecord({ id: 1, process_index: 0, engine_id: 0 }),
        processesRecord({
          processes: [stuckFacts({ id: 1, engine_id: 0, activity, stuck: activity === 'stuck', activity_text: sentence })],
          stuck: activity === 'stuck' ? [1] : []
        })
      ]);
      const html = renderNarrow(model);
      const block = element(html, 'jaxinspect-process-liveness', 'data-process-id', '1', '</dl>');
      expect(text(block, 'jaxinspect-process-activity')).toBe(sentence);
      expect(attrs(block, 'jaxinspect-process-activity', 'data-tone')).toEqual([tone]);
      expect(block).toContain(`jp-JaxInspect-processActivity-${tone}`);
      // stuck and lost also say so in words beside the label
      const marks = markClasses(html);
      if (activity === 'stuck' || activity === 'lost') {
        expect(marks).toEqual([`jp-JaxInspect-processMark jp-JaxInspect-processMark-${activity}`]);
        expect(text(html, 'jaxinspect-process-mark')).toBe(activity);
      } else {
        expect(marks).toEqual([]);
      }
    }
    const model = enginesStuck();
    const html = renderNarrow(model, NOW, { ...actions, revealCell: () => undefined });
    const block = element(html, 'jaxinspect-process-liveness', 'data-process-id', '2', '</dl>');
    const pairs = Array.from(block.matchAll(/<dt>([^<]*)<\/dt>/g), m => m[1]);
    expect(pairs).toEqual(['state', 'activity', 'where', 'last step', 'last compile']);
    expect(text(block, 'jaxinspect-process-place')).toBe('cell [3] line 7 (step)');
    const code = 'total = jax.lax.psum(x, &quot;i&quot;).block_until_ready()';
    expect(block).toMatch(
      new RegExp(`<code class="jp-JaxInspect-code jp-JaxInspect-processCode" data-testid="jaxinspect-process-code" title="${code.replace(/[.()]/g, '\\$&')}">`)
    );
    expect(text(block, 'jaxinspect-process-inner')).toBe('jax/_src/array.py:640 (_value)');
    expect(block).toContain('jp-JaxInspect-dim jp-JaxInspect-code jp-JaxInspect-processInner');
    expect(block).toContain('<dt>last step</dt><dd class="jp-JaxInspect-processCell">step 41 · 15 s ago</dd>');
    expect(block).toContain('<dt>last compile</dt><dd class="jp-JaxInspect-processCell">step · 20 s ago</dd>');
    // an engine's cell numbers are its own: never a link to this notebook's cells
    expect(block).not.toContain('jp-JaxInspect-cellLink');
    expect(block).not.toContain('data-jaxinspect-cell');
    // the wide view: the same facts as rows of its table
    const wide = render(model);
    // (the stuck engine 1 comes first)
    expect(rowCells(wide, 'activity')).toEqual([
      'stuck 14 s at cell [3] line 7 (step)',
      'idle · waits for the others at the next collective'
    ]);
    expect(rowCells(wide, 'last-step')).toEqual(['step 41 · 15 s ago', 'step 42 · 1 s ago']);
    expect(rowCells(wide, 'where')[0]).toContain('cell [3] line 7 (step)');
    expect(rowCells(wide, 'where')[1]).toBe('–');
  });

  it('puts the kernel\'s diagnosis on top, the stuck process first and marked', () => {
    const model = enginesStuck();
    for (const html of [renderNarrow(model), render(model)]) {
      expect(html.indexOf('jaxinspect-processes-diagnosis')).toBeLessThan(
        html.indexOf('jaxinspect-processes-col-')
      );
      // the visible banner is no live region: its seconds change every second
      expect(html).toMatch(/<div class="jp-JaxInspect-processesDiagnosis" data-testid="jaxinspect-processes-diagnosis">/);
      expect(text(html, 'jaxinspect-processes-diagnosis')).toBe(
        'engine 1 · p1 has waited 14 s at cell [3] line 7 (step); engine 0 · p0 is not there: idle, last step 42'
      );
      // the hidden live region says who is stuck, by label
      expect(html).toMatch(
        /<div class="jp-JaxInspect-processesLive" role="alert" data-testid="jaxinspect-processes-diagnosis-live">Stuck: engine 1 · p1<\/div>/
      );
      expect(count(html, 'jaxinspect-processes-diagnosis-live')).toBe(1);
      expect(html.split('role="alert"').length - 1).toBe(1);
      // engine 1 (p1) comes before engine 0 (p0), and only it is marked
      expect(html.indexOf('jaxinspect-processes-col-2')).toBeLessThan(
        html.indexOf('jaxinspect-processes-col-1')
      );
      expect(attrs(html, 'jaxinspect-processes-col-2', 'data-stuck')).toEqual(['true']);
      expect(attrs(html, 'jaxinspect-processes-col-1', 'data-stuck')).toEqual(['false']);
      expect(text(html, 'jaxinspect-process-mark')).toBe('stuck');
    }
    // nobody stuck: no banner, process_index order
    const calm = enginesStuck({}, { stuck: [], diagnosis: null, processes: [processFacts({ id: 1 }), processFacts({ id: 2, process_index: 1 })] });
    const html = renderNarrow(calm);
    expect(html).not.toContain('data-testid="jaxinspect-processes-diagnosis"');
    // the live region stays in place (so a later change is announced), empty
    expect(text(html, 'jaxinspect-processes-diagnosis-live')).toBe('');
    expect(html.indexOf('jaxinspect-processes-col-1')).toBeLessThan(
      html.indexOf('jaxinspect-processes-col-2')
    );
    expect(html).not.toContain('data-stuck="true"');
  });

  it('tells screen readers who is stuck, only when that changes, never the banner\'s seconds', () => {
    const live = (m: SessionModel) => text(renderNarrow(m), 'jaxinspect-processes-diagnosis-live');
    const at = (seconds: number, summary: Partial<IProcessesSummary> = {}) =>
      enginesStuck({}, { diagnosis: `engine 1 · p1 has waited ${seconds} s at cell [3] line 7`, ...summary });
    // the banner's seconds change; what is announced does not
    expect(text(renderNarrow(at(5)), 'jaxinspect-processes-diagnosis')).not.toBe(
      text(renderNarrow(at(6)), 'jaxinspect-processes-diagnosis')
    );
    expect(live(at(5))).toBe('Stuck: engine 1 · p1');
    expect(live(at(6))).toBe('Stuck: engine 1 · p1');
    // a second process stuck: both, by label, in the tab's order
    const both = at(7, {
      stuck: [1, 2],
      processes: [stuckFacts({ id: 1, process_index: 0, engine_id: 0 }), stuckFacts({ id: 2, process_index: 1, engine_id: 1 })]
    });
    expect(live(both)).toBe('Stuck: engine 0 · p0, engine 1 · p1');
    // a label is text
    const evil = modelWith([
      processRecord({ id: 1, process_index: 0, label: EVIL }),
      processesRecord({ processes: [stuckFacts({ id: 1, label: EVIL })], stuck: [1] })
    ]);
    expect(live(evil)).toBe(`Stuck: ${EVIL_TEXT}`);
    expect(renderNarrow(evil)).not.toContain('<img');
  });

  it('lets the banner wrap at the "/" of a path before it cuts a word', () => {
    const diagnosis =
      'p0 has waited 5 s at hang.py:5, inside python3.12/threading.py:655 (wait). Not there: <b>x</b>';
    const model = enginesStuck({}, { diagnosis });
    for (const html of [renderNarrow(model), render(model)]) {
      const at = html.indexOf('data-testid="jaxinspect-processes-diagnosis"');
      const inner = html.slice(html.indexOf('>', at) + 1, html.indexOf('</div>', at));
      expect(inner).toBe(
        'p0 has waited 5 s at hang.py:5, inside python3.12/<wbr/>threading.py:655 (wait). Not there: &lt;b&gt;x&lt;/<wbr/>b&gt;'
      );
      expect(text(html, 'jaxinspect-processes-diagnosis')).toBe(
        'p0 has waited 5 s at hang.py:5, inside python3.12/threading.py:655 (wait). Not there: &lt;b&gt;x&lt;/b&gt;'
      );
    }
    const many = enginesStuck({}, { diagnosis: '/a//b/' });
    const at = renderNarrow(many).indexOf('data-testid="jaxinspect-processes-diagnosis"');
    const html = renderNarrow(many);
    expect(html.slice(html.indexOf('>', at) + 1, html.indexOf('</div>', at))).toBe(
      '/<wbr/>a/<wbr/>/<wbr/>b/<wbr/>'
    );
  });

  it('shows the stacks beside them: open for the stuck process, closed for the others', () => {
    const model = enginesStuck();
    for (const html of [renderNarrow(model), render(model)]) {
      expect(count(html, 'jaxinspect-processes-stacks')).toBe(1);
      expect(attrs(html, 'jaxinspect-process-stack', 'data-process-id')).toEqual(['2', '1']);
      const stuck = element(html, 'jaxinspect-process-stack', 'data-process-id', '2', '</details>');
      const other = element(html, 'jaxinspect-process-stack', 'data-process-id', '1', '</details>');
      expect(stuck).toMatch(/^<details[^>]* open=""/);
      expect(other).not.toMatch(/^<details[^>]* open/);
      expect(stuck).toMatch(/<summary[^>]*>engine 1 · p1 · taken 4\.0 s ago when it looked stuck<\/summary>/);
      expect(other).toMatch(/<summary[^>]*>engine 0 · p0 · taken 2\.0 s ago when asked<\/summary>/);
      if (html === render(model)) {
        // the wide view: as the kernel wrote it; long lines scroll inside the block
        expect(stuck).toContain('<pre class="jp-JaxInspect-processStack">Thread MainThread, innermost last:\n');
        expect(stuck).toContain('  cell [3] line 7, in step\n');
      } else {
        // the narrow sidebar: a block per line, which wraps
        expect(stuck).toContain(
          '<pre class="jp-JaxInspect-processStack jp-JaxInspect-processStack-wrap" data-testid="jaxinspect-process-stack-lines">' +
            '<span class="jp-JaxInspect-processStackLine" style="padding-left:4ch;text-indent:-4ch">Thread MainThread, innermost last:</span>'
        );
        // a continued line hangs 4 columns right of its line's own indentation
        expect(stuck).toContain(
          '<span class="jp-JaxInspect-processStackLine" style="padding-left:6ch;text-indent:-6ch">  cell [3] line 7, in step</span>'
        );
      }
    }
    // narrow: every line of the kernel's stack, in order, with a break chance after each "/"
    const deep = enginesStuck({}, {
      processes: [stuckFacts({ id: 2, process_index: 1, engine_id: 1, stack: 'a\n  /usr/lib/python3.12/threading.py:355\n\n<b>x</b>\n' })]
    });
    const narrow = renderNarrow(deep);
    const lines = Array.from(
      narrow.matchAll(/<span class="jp-JaxInspect-processStackLine"[^>]*>([\s\S]*?)<\/span>/g),
      m => m[1]
    );
    expect(lines).toEqual([
      'a',
      '  /<wbr/>usr/<wbr/>lib/<wbr/>python3.12/<wbr/>threading.py:355',
      '',
      '&lt;b&gt;x&lt;/<wbr/>b&gt;'
    ]);
    // a process without a stack says nothing there; with none at all there is no section
    const one = enginesStuck({ stack: null, stack_reason: null, stack_age_s: null });
    expect(attrs(renderNarrow(one), 'jaxinspect-process-stack', 'data-process-id')).toEqual(['2']);
    const none = modelWith([processRecord(), processesRecord({ processes: [processFacts()] })]);
    expect(renderNarrow(none)).not.toContain('jaxinspect-processes-stacks');
  });

  it('turns the tab strip\'s Processes count red while a process is stuck, saying how many', () => {
    const tabs = createDefaultTabs().tabs;
    const strip = (model: SessionModel) =>
      renderToStaticMarkup(
        <TabStrip tabs={tabs} selected="processes" model={model} idPrefix="t" onSelect={() => undefined} />
      );
    const stuck = enginesStuck();
    expect(processesBadge(stuck)).toBe('2 ⚠');
    const html = strip(stuck);
    expect(html).toContain(
      '<span class="jp-JaxInspect-badge jp-JaxInspect-badgeAlert" ' +
        'data-testid="jaxinspect-tab-badge-processes" data-badge="2 ⚠">2</span>'
    );
    expect(html).toContain('aria-label="Processes: 2 processes, 1 stuck"');
    expect(html).toContain('title="Processes: 2 processes, 1 stuck"');
    // stuck and compile counts differing
    const both = enginesStuck({}, { differing: 1 });
    expect(processesBadge(both)).toBe('2 ⚠ ≠');
    expect(processesBadgeTitle('2 ⚠ ≠', both)).toBe('2 processes, 1 stuck, compile counts differ');
    // nobody stuck: a plain count, no alert
    const calm = enginesStuck({}, { stuck: [], diagnosis: null, processes: [processFacts({ id: 1 })] });
    expect(processesBadge(calm)).toBe('2');
    const plain = strip(calm);
    expect(plain).toContain('class="jp-JaxInspect-badge" data-testid="jaxinspect-tab-badge-processes"');
    expect(plain).toContain('aria-label="Processes: 2 processes"');
  });

  it('renders the kernel\'s strings about liveness and stacks as text', () => {
    const model = modelWith([
      processRecord({ id: 1, process_index: 0, engine_id: 0, label: EVIL }),
      processesRecord({
        processes: [
          stuckFacts({
            id: 1,
            label: EVIL,
            activity: EVIL,
            activity_text: EVIL,
            where: { cell: 3, line: 7, code: EVIL, path: null, text: EVIL },
            function: EVIL,
            inner: EVIL,
            last_step_text: EVIL,
            last_compile_text: EVIL,
            stack: EVIL,
            stack_reason: EVIL
          })
        ],
        stuck: [1],
        diagnosis: EVIL
      })
    ]);
    for (const html of [renderNarrow(model), render(model)]) {
      expect(html).not.toContain('<img');
      expect(text(html, 'jaxinspect-processes-diagnosis')).toBe(EVIL_TEXT);
      expect(text(html, 'jaxinspect-process-activity')).toBe(EVIL_TEXT);
      expect(text(html, 'jaxinspect-process-inner')).toBe(EVIL_TEXT);
      expect(html).toMatch(
        new RegExp(`<pre class="jp-JaxInspect-processStack[^"]*"[^>]*>(<span class="jp-JaxInspect-processStackLine"[^>]*>)?${EVIL_TEXT.replace(/[()]/g, '\\$&')}(</span>)?</pre>`)
      );
      // an unknown activity gets the neutral tone, never its string as a class
      expect(html).not.toMatch(/class="[^"]*&lt;/);
      expect(html).toContain('jp-JaxInspect-processActivity-normal');
    }
  });

  it('names ipyparallel in the empty state', () => {
    const html = renderNarrow(modelWith([]));
    expect(text(html, 'jaxinspect-processes-hint-ipp').replace(/&#x27;/g, "'")).toBe(IPP_HINT_TEXT);
    expect(IPP_HINT_TEXT).toBe(
      "With ipyparallel: c = jaxinspect.collect_processes(rc) with the cluster's Client, then " +
        '%px %load_ext jaxinspect on the engines (no port, token or tunnel).'
    );
    expect(html).toContain('<code>c = jaxinspect.collect_processes(rc)</code>');
    expect(html).toContain('<code>%px %load_ext jaxinspect</code>');
  });

  it('asks every process for its stack with a button, and says who answered, as text', async () => {
    const model = enginesStuck();
    // without the action there is no button
    expect(renderNarrow(model)).not.toContain('jaxinspect-processes-ask-stacks');
    let answer!: (r: unknown) => void;
    const askStacks = vi.fn(() => new Promise(resolve => (answer = resolve)));
    const acts = { ...actions, askStacks };
    const html = renderNarrow(model, NOW, acts);
    expect(text(html, 'jaxinspect-processes-ask-stacks')).toBe('Ask for stacks');
    const [button] = findAll(
      <Processes model={model} now={NOW} actions={acts as any} />,
      el => el.props['data-testid'] === 'jaxinspect-processes-ask-stacks'
    );
    const touched = vi.fn();
    model.stateChanged.connect(touched);
    button.props.onClick();
    expect(askStacks).toHaveBeenCalledWith({ timeout_s: ASK_STACKS_TIMEOUT_S }, model);
    expect(touched).toHaveBeenCalled(); // the tab re-renders: pending
    const pending = renderNarrow(model, NOW, acts);
    expect(text(pending, 'jaxinspect-processes-ask-stacks')).toBe('Asking…');
    expect(pending).toMatch(/<button[^>]*disabled=""[^>]*data-testid="jaxinspect-processes-ask-stacks"|data-testid="jaxinspect-processes-ask-stacks"[^>]*disabled=""/);
    // a second click while it runs asks nothing more
    button.props.onClick();
    expect(askStacks).toHaveBeenCalledTimes(1);
    answer({ asked: [1, 2], answered: [1], problems: ['<b>p9</b> is on another host: not asked'] });
    await new Promise(resolve => setTimeout(resolve, 0));
    const done = renderNarrow(model, NOW, acts);
    expect(text(done, 'jaxinspect-processes-ask-stacks')).toBe('Ask for stacks');
    expect(text(done, 'jaxinspect-processes-ask-result')).toBe(
      '1 of 2 answered; engine 1 · p1 did not answer within 3 s (its last stack shows, with its age); ' +
        '&lt;b&gt;p9&lt;/b&gt; is on another host: not asked'
    );
    // a failed request says so, and the button is back
    const failing = { ...actions, askStacks: vi.fn(() => Promise.reject(new Error('timed out'))) };
    const [again] = findAll(
      <Processes model={model} now={NOW} actions={failing as any} />,
      el => el.props['data-testid'] === 'jaxinspect-processes-ask-stacks'
    );
    again.props.onClick();
    await new Promise(resolve => setTimeout(resolve, 0));
    expect(text(renderNarrow(model, NOW, failing), 'jaxinspect-processes-ask-result')).toBe('Could not ask: timed out');
    expect(askNote({ asked: [], answered: [], problems: ['no collector is open'] }, new Map())).toBe(
      'no process could be asked; no collector is open'
    );
    expect(askNote({ asked: [1, 2], answered: [1, 2], problems: [] }, new Map())).toBe('2 of 2 answered');
  });
});
