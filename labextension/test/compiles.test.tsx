import * as React from 'react';
import { renderToStaticMarkup } from 'react-dom/server';
import { describe, expect, it, vi } from 'vitest';

import { SessionModel } from '../src/model';
import type { AnyRecord } from '../src/protocol';
import { createDefaultTabs } from '../src/views/builtin';
import {
  Compiles,
  CompilesView,
  EMPTY_TEXT,
  MAX_EVENT_ROWS,
  MAX_FUNCTION_ROWS,
  compilesBadge
} from '../src/views/Compiles';
import type { ICompilesViewProps } from '../src/views/Compiles';
import {
  FIRST_CALL,
  batch,
  compileAlert,
  compileEvent,
  compileStats,
  fileLocation,
  hello,
  reason
} from './fixtures';

const actions = { loadExtension: () => undefined, reconnect: () => undefined };

function modelWith(records: AnyRecord[]): SessionModel {
  const model = new SessionModel();
  model.applyHello(hello());
  model.applyBatch(batch(1, records));
  return model;
}

function viewProps(
  model: SessionModel | null,
  overrides: Partial<ICompilesViewProps> = {}
): ICompilesViewProps {
  return {
    model,
    showInternal: false,
    selectedId: null,
    onSelect: () => undefined,
    onToggleInternal: () => undefined,
    ...overrides
  };
}

function render(model: SessionModel | null, overrides: Partial<ICompilesViewProps> = {}) {
  return renderToStaticMarkup(<CompilesView {...viewProps(model, overrides)} />);
}

/** Elements of a rendered tree matching `pred`, expanding (hook-free) function components. */
function findAll(
  node: React.ReactNode,
  pred: (el: React.ReactElement<any>) => boolean,
  out: React.ReactElement<any>[] = []
): React.ReactElement<any>[] {
  if (Array.isArray(node)) {
    node.forEach(n => findAll(n, pred, out));
  } else if (React.isValidElement(node)) {
    const el = node as React.ReactElement<any>;
    if (typeof el.type === 'function') {
      findAll((el.type as (p: unknown) => React.ReactNode)(el.props), pred, out);
    } else {
      if (pred(el)) {
        out.push(el);
      }
      findAll(el.props.children, pred, out);
    }
  }
  return out;
}

const byTestId = (id: string) => (el: React.ReactElement<any>) => el.props['data-testid'] === id;

/** `data-fun-name` of each element with `testid`, in document order. */
function funNames(html: string, testid: string): string[] {
  const re = new RegExp(`data-testid="${testid}"[^>]*?data-fun-name="([^"]*)"`, 'g');
  return Array.from(html.matchAll(re), m => m[1]);
}

/** The outer HTML of the first `<li>` with `testid` and `data-fun-name`. */
function row(html: string, testid: string, funName: string): string {
  const start = html.indexOf(`data-testid="${testid}" data-fun-name="${funName}"`);
  expect(start).toBeGreaterThanOrEqual(0);
  return html.slice(start, html.indexOf('</li>', start));
}

const shapeEvents = (): AnyRecord[] => [
  compileEvent({ id: 1, fun_name: 'ragged_step', reasons: [FIRST_CALL] }),
  compileEvent({
    id: 2,
    fun_name: 'broadcast_in_dim',
    fun_key: 'k:b',
    internal: true,
    reasons: [],
    cell: null,
    call_site: null,
    location: '?'
  }),
  compileEvent({
    id: 3,
    fun_name: 'ragged_step',
    reasons: [
      reason(),
      reason({
        kind: 'dtype',
        label: 'dtype',
        path: 'y',
        before: 'f32',
        after: 'i32',
        message: '`y` changed dtype f32 → i32'
      })
    ],
    total_s: 1.5,
    total_text: '1.50 s',
    diffable: true,
    persistent_cache: 'miss',
    signature: 'x: f32[4], y: i32[]',
    thread: 'worker-1',
    process_index: 2,
    api: 'trace',
    parent: 'outer'
  })
];

describe('Compiles tab', () => {
  it('shows an empty state before the first compile', () => {
    const html = render(modelWith([]));
    expect(html).toContain(EMPTY_TEXT);
    expect(html).not.toContain('jaxinspect-compile-event');
    expect(html).toContain('data-testid="jaxinspect-show-internal"');
  });

  it('asks for a notebook, or points to Overview when not connected', () => {
    expect(render(null)).toContain('Open a notebook');
    const model = new SessionModel();
    model.setState('not-loaded');
    expect(render(model)).toContain('see the Overview tab');
  });

  it('lists events newest first with fun_name, call site, time and first reason', () => {
    const model = modelWith([
      compileEvent({ id: 1, fun_name: 'a' }),
      compileEvent({
        id: 2,
        fun_name: 'b',
        cell: null,
        call_site: '/home/u/proj/train.py:12',
        call: fileLocation('/home/u/proj/train.py', 12),
        location: 'train.py:12'
      }),
      compileEvent({ id: 3, fun_name: 'c', reasons: [reason()], diffable: true })
    ]);
    const html = render(model);
    expect(funNames(html, 'jaxinspect-compile-event')).toEqual(['c', 'b', 'a']);
    const c = row(html, 'jaxinspect-compile-event', 'c');
    expect(c).toContain('#3');
    expect(c).toContain('>c<');
    // a quoted name is a name: code, whole, never broken (no backticks)
    expect(c).toContain('<code class="jp-JaxInspect-name" title="x">x</code> changed shape (3,) → (4,)');
    expect(c).toContain('cell [5] line 6');
    expect(c).toContain('20.3 ms');
    expect(row(html, 'jaxinspect-compile-event', 'a')).toContain('first call');
    // the kernel's place is shown (a file's short path), the full call site is the tooltip
    expect(row(html, 'jaxinspect-compile-event', 'b')).toContain(
      'title="/home/u/proj/train.py:12">proj/train.py:12<'
    );
    expect(html).not.toContain('jaxinspect-compile-details');
  });

  it('hides JAX-internal compiles by default and shows them with the toggle', () => {
    const model = modelWith(shapeEvents());
    const hidden = render(model);
    expect(funNames(hidden, 'jaxinspect-compile-event')).toEqual(['ragged_step', 'ragged_step']);
    expect(hidden).toContain('(1 hidden)');
    expect(hidden).not.toMatch(/data-testid="jaxinspect-show-internal"[^>]*checked/);

    const shown = render(model, { showInternal: true });
    expect(funNames(shown, 'jaxinspect-compile-event')).toEqual([
      'ragged_step',
      'broadcast_in_dim',
      'ragged_step'
    ]);
    expect(shown).not.toContain('hidden)');

    // The stateful tab starts with internal compiles hidden.
    const tab = renderToStaticMarkup(<Compiles model={model} now={0} actions={actions} />);
    expect(funNames(tab, 'jaxinspect-compile-event')).not.toContain('broadcast_in_dim');

    // The checkbox reports its new state.
    const onToggleInternal = vi.fn();
    const [box] = findAll(
      <CompilesView {...viewProps(model, { onToggleInternal })} />,
      byTestId('jaxinspect-show-internal')
    );
    expect(box.type).toBe('input');
    expect(box.props.type).toBe('checkbox');
    box.props.onChange({ currentTarget: { checked: true } });
    expect(onToggleInternal).toHaveBeenCalledWith(true);
  });

  it('selects an event on click and shows its reasons and phases', () => {
    const model = modelWith(shapeEvents());
    const onSelect = vi.fn();
    const rows = findAll(
      <CompilesView {...viewProps(model, { onSelect })} />,
      byTestId('jaxinspect-compile-event')
    );
    const newest = rows.find(r => r.props['data-compile-id'] === '3');
    expect(newest).toBeDefined();
    newest!.props.onClick();
    expect(onSelect).toHaveBeenCalledWith(3);

    const html = render(model, { selectedId: 3 });
    const start = html.indexOf('data-testid="jaxinspect-compile-details"');
    expect(start).toBeGreaterThan(html.indexOf('data-compile-id="3"'));
    const details = html.slice(start, html.indexOf('data-compile-id="1"'));
    for (const text of [
      'shape',
      '(3,) → (4,)',
      // the argument is a name that never breaks (its full text as the tooltip)
      '<code class="jp-JaxInspect-name" title="x">x</code> changed shape (3,) → (4,)',
      'dtype',
      'f32 → i32',
      '<code class="jp-JaxInspect-name" title="y">y</code> changed dtype f32 → i32',
      '2.0 ms', // trace
      '3.0 ms', // lower
      '15.3 ms', // compile
      '1.50 s', // total
      'miss',
      'x: f32[4], y: i32[]',
      // places in the cell, with their code on hover, never the kernel's temp file
      'title="def f(x):">cell [5] line 2<',
      'title="y = f(x)">cell [5] line 6<',
      'worker-1',
      'trace',
      'outer'
    ]) {
      expect(details).toContain(text);
    }
    expect(html.match(/data-testid="jaxinspect-compile-details"/g)).toHaveLength(1);
    expect(details).not.toContain('ipykernel');

    // Clicking the selected row closes it.
    const again = findAll(
      <CompilesView {...viewProps(model, { onSelect, selectedId: 3 })} />,
      byTestId('jaxinspect-compile-event')
    ).find(r => r.props['data-compile-id'] === '3');
    again!.props.onClick();
    expect(onSelect).toHaveBeenLastCalledWith(null);
  });

  it('summarizes functions from compile_stats, most time first, internal hidden', () => {
    const model = modelWith([
      compileStats({
        fun_key: 'k:f',
        fun_name: 'f',
        compiles: 5,
        total_s: 0.25,
        total_text: '250.0 ms',
        reasons: { first_call: 1, shape: 4 },
        reasons_text: 'shape ×4, first call ×1'
      }),
      compileStats({ fun_key: 'k:g', fun_name: 'g', compiles: 1, total_s: 2.5, total_text: '2.50 s' }),
      compileStats({ fun_key: 'k:b', fun_name: 'broadcast_in_dim', internal: true, total_s: 9 }),
      // the kernel's text is shown as it arrives (tests/test_derived.py checks how it is made)
      compileStats({
        fun_key: 'k:f',
        fun_name: 'f',
        compiles: 6,
        total_s: 0.3,
        total_text: '300.0 ms',
        reasons: { first_call: 1, shape: 5 },
        reasons_text: 'shape ×5, first call ×1'
      })
    ]);
    const html = render(model);
    expect(funNames(html, 'jaxinspect-compile-function')).toEqual(['g', 'f']);
    const f = html.slice(html.indexOf('data-fun-name="f"'), html.indexOf('</tr>', html.indexOf('data-fun-name="f"')));
    expect(f).toContain('>6<');
    expect(f).toContain('300.0 ms');
    expect(f).toContain('shape ×5, first call ×1');
    expect(funNames(render(model, { showInternal: true }), 'jaxinspect-compile-function')).toEqual([
      'broadcast_in_dim',
      'g',
      'f'
    ]);
    expect(compilesBadge(model)).toBe('7');
    expect(compilesBadge(modelWith([]))).toBeNull();
  });

  it('shows the latest alert per function with its fix', () => {
    const model = modelWith([
      compileAlert({ compiles: 5 }),
      compileAlert({ fun_key: 'k:g', fun_name: 'g', message: '`g` recompiled 5 times', hint: 'mark `n` static' }),
      compileAlert({ compiles: 10, message: '`f` recompiled 10 times: `x` changed shape (3,) → (8,)' }),
      compileEvent()
    ]);
    const html = render(model);
    expect(funNames(html, 'jaxinspect-compile-alert')).toEqual(['f', 'g']);
    const name = (n: string) => `<code class="jp-JaxInspect-name" title="${n}">${n}</code>`;
    expect(html).toContain(`${name('f')} recompiled 10 times: ${name('x')} changed shape (3,) → (8,)`);
    expect(html).not.toContain('recompiled 5 times: ');
    expect(html).toContain(`fix: pad ${name('x')} to a fixed size or mark it static`);
    expect(html).toContain(`fix: mark ${name('n')} static`);
    expect(html.indexOf('jaxinspect-compile-alert')).toBeLessThan(html.indexOf('jaxinspect-compile-event'));
  });

  it('offers the jaxpr diff for recompiles only, and shows the kernel text as text', () => {
    const model = modelWith([
      compileEvent({ id: 1 }),
      compileEvent({ id: 2, reasons: [reason()], diffable: true }),
      compileEvent({ id: 3, internal: true, reasons: [reason()], diffable: false })
    ]);
    const onDiff = vi.fn();
    // no action wired (e.g. a frontend without RPC): no button
    expect(render(model, { selectedId: 2 })).not.toContain('jaxinspect-compile-diff-button');
    // a first call has nothing to diff against (the kernel says so: `diffable`)
    expect(render(model, { selectedId: 1, onDiff })).not.toContain('jaxinspect-compile-diff-button');
    expect(render(model, { selectedId: 3, onDiff })).not.toContain('jaxinspect-compile-diff-button');
    const buttons = findAll(
      <CompilesView {...viewProps(model, { selectedId: 2, onDiff })} />,
      byTestId('jaxinspect-compile-diff-button')
    );
    expect(buttons).toHaveLength(1);
    buttons[0].props.onClick({ stopPropagation: () => undefined });
    expect(onDiff).toHaveBeenCalledWith(2);

    const loading = render(model, {
      selectedId: 2,
      onDiff,
      diff: { eventId: 2, status: 'loading', text: '' }
    });
    expect(loading).toContain('Tracing both calls…');
    expect(loading).not.toContain('data-testid="jaxinspect-compile-diff"');

    const evil = '~ in x: f32[3] → f32[4]\n<img src=x onerror=alert(1)>';
    const done = render(model, {
      selectedId: 2,
      onDiff,
      diff: { eventId: 2, status: 'done', text: evil }
    });
    expect(done).toContain('data-testid="jaxinspect-compile-diff" data-status="done"');
    expect(done).toContain('~ in x: f32[3] → f32[4]');
    expect(done).not.toContain('<img');
    // a diff belongs to its event: another selection does not show it
    expect(
      render(model, { selectedId: 1, onDiff, diff: { eventId: 2, status: 'done', text: 'X' } })
    ).not.toContain('jaxinspect-compile-diff"');
    const failed = render(model, {
      selectedId: 2,
      onDiff,
      diff: { eventId: 2, status: 'error', text: 'no jaxpr diff for compile #2' }
    });
    expect(failed).toContain('data-status="error"');
    expect(failed).toContain('no jaxpr diff for compile #2');
  });

  it('escapes kernel strings', () => {
    const evil = '<img src=x onerror=alert(1)>';
    const model = modelWith([
      compileEvent({ fun_name: evil, reasons: [reason({ message: evil, path: evil })], signature: evil }),
      compileStats({ fun_name: evil }),
      compileAlert({ fun_name: evil, message: evil, hint: evil })
    ]);
    const html = render(model, { selectedId: 1 });
    expect(html).toContain('jaxinspect-compile-details');
    expect(html).not.toContain('<img');
    expect(html).toContain('&lt;img src=x onerror=alert(1)&gt;');
    expect(html).toContain('data-fun-name="&lt;img src=x onerror=alert(1)&gt;"');
  });

  it('bounds the event and function lists with a "more" marker', () => {
    const n = MAX_EVENT_ROWS + 50;
    const model = modelWith([
      ...Array.from({ length: n }, (_, i) => compileEvent({ id: i + 1, fun_name: `f${i + 1}` })),
      ...Array.from({ length: MAX_FUNCTION_ROWS + 7 }, (_, i) =>
        compileStats({ fun_key: `k${i}`, fun_name: `f${i}` })
      )
    ]);
    const html = render(model);
    const events = funNames(html, 'jaxinspect-compile-event');
    expect(events).toHaveLength(MAX_EVENT_ROWS);
    expect(events[0]).toBe(`f${n}`);
    expect(html).toContain('data-testid="jaxinspect-compile-more">50 more<');
    expect(funNames(html, 'jaxinspect-compile-function')).toHaveLength(MAX_FUNCTION_ROWS);
    expect(html).toContain('>7 more<');
  });

  it('is registered after Overview', () => {
    const tabs = createDefaultTabs().tabs;
    expect(tabs.map(t => t.id).slice(0, 2)).toEqual(['overview', 'compiles']);
    expect(tabs[1].label).toBe('Compiles');
    expect(tabs[1].component).toBe(Compiles);
  });
});

