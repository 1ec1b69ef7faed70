/**
 * The in-cell monitor widget (jaxinspect/glue/monitor_esm.js) shows what the kernel sent: every
 * number arrives as text (`*_text`, `text`, `message`, `compiles`) formatted once by
 * jaxinspect/units.py (tests/test_derived.py checks how), and the widget formats none itself.
 */

import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';

// a plain ES module without types: the anywidget front end the kernel ships
import widget from '../../jaxinspect/glue/monitor_esm.js';

/** Just enough DOM for the widget: elements with attributes, children and text. */
class FakeNode {
  constructor(
    readonly tag: string,
    public text = ''
  ) {}
  children: FakeNode[] = [];
  attrs: { [k: string]: string } = {};
  className = '';
  style = { cssText: '' };
  setAttribute(k: string, v: string): void {
    this.attrs[k] = String(v);
  }
  appendChild(c: FakeNode): FakeNode {
    this.children.push(c);
    return c;
  }
  set textContent(v: string) {
    this.children = [];
    this.text = v;
  }
  get textContent(): string {
    return this.text + this.children.map(c => c.textContent).join('');
  }
  /** Every node below with this tag. */
  tagged(tag: string): FakeNode[] {
    const out: FakeNode[] = this.tag === tag ? [this] : [];
    for (const c of this.children) {
      out.push(...c.tagged(tag));
    }
    return out;
  }
  /** Every node below with `data-testid` = `id`. */
  all(id: string): FakeNode[] {
    const out: FakeNode[] = this.attrs['data-testid'] === id ? [this] : [];
    for (const c of this.children) {
      out.push(...c.all(id));
    }
    return out;
  }
}

const GiB = 1024 * 1024 * 1024;

/** A monitor snapshot as jaxinspect/live/monitorstate.py sends it (every key present). */
function snapshot(): { [k: string]: unknown } {
  return {
    status: { busy: true, execution_count: 4, cell_elapsed_s: 2, elapsed_text: '2.00 s' },
    scalars: { loss: [[39, 0.025]] },
    scalar_text: { loss: '0.02500' },
    functions: {
      a: { name: 'alpha', compiles: 1, total_s: 0.1, total_text: '100.0 ms', last_reason: null, notes: [] },
      b: { name: 'beta', compiles: 3, total_s: 0.3, total_text: '300.0 ms', last_reason: 'shape', notes: [] }
    },
    compiles: { total: 4, functions: 2, text: '4 compiles in 2 functions', top: ['b', 'a'] },
    compile_events: [],
    alerts: [],
    memory: {
      bytes: 1.5 * GiB,
      bytes_text: '1.5 GiB',
      arrays: 1234,
      arrays_text: '1,234',
      devices: [{ device: 'cpu:0', bytes: 1.5 * GiB, bytes_in_use: null, text: '1.5 GiB' }],
      owners: [{ name: 'params', bytes: 1.5 * GiB, arrays: 2, text: '1.5 GiB (2 arrays)' }]
    },
    memory_points: [],
    params: {},
    param_points: {},
    keys: null,
    processes: {
      rows: [
        { id: 1, process_index: 0, host: 'h', pid: 1, state: 'connected', compiles: 1, bytes: 4096, bytes_text: '4.0 KiB', arrays: 1, device_in_use: null, in_use_text: 'n/a (CPU)', alerts: 0, last_recompile: null }
      ],
      more: 0,
      differs: [
        { name: 'step', counts: { p0: 1, p1: 2 }, message: 'KERNEL: step differs (p0: 1 · p1: 2)' }
      ]
    },
    more_scalars: 0,
    updates: 7
  };
}

describe('monitor widget', () => {
  const saved = (globalThis as any).document;
  beforeEach(() => {
    (globalThis as any).document = {
      createElement: (tag: string) => new FakeNode(tag),
      createElementNS: (_ns: string, tag: string) => new FakeNode(tag),
      createTextNode: (text: string) => new FakeNode('#text', text)
    };
  });
  afterEach(() => {
    (globalThis as any).document = saved;
  });

  it('shows the kernel text as it arrives and formats no number itself', () => {
    const el = new FakeNode('div');
    const model = { get: () => snapshot(), on: () => undefined, off: () => undefined };
    widget.render({ model, el });
    const root = el.children[0];
    const text = root.textContent;
    for (const shown of [
      '1.5 GiB',
      '1,234 arrays',
      'params: 1.5 GiB (2 arrays)',
      'cpu:0 1.5 GiB',
      '0.02500',
      '4 compiles in 2 functions',
      '4.0 KiB live',
      '≠ KERNEL: step differs (p0: 1 · p1: 2)',
      '2.00 s'
    ]) {
      expect(text).toContain(shown);
    }
    expect(text).not.toContain('1.50 GiB');
    // the order is the kernel's (the most compiled first)
    expect(root.all('jaxinspect-monitor-function').map(n => n.attrs['data-name'])).toEqual([
      'beta',
      'alpha'
    ]);
    expect(root.all('jaxinspect-monitor-compiles')[0].textContent).toBe('4 compiles in 2 functions');
  });

  it('draws each curve as SVG, breaks it at NaN and marks it, and hides its own snapshot output', () => {
    const el = new FakeNode('div');
    const snap = {
      ...snapshot(),
      scalars: { loss: [[0, 2], [1, 1], [2, 'NaN'], [3, 0.5]], '<b>x</b>': [[0, 1]] },
      scalar_text: { loss: '0.5000', '<b>x</b>': '1' }
    };
    const traits: { [k: string]: unknown } = { snapshot: snap, snapshot_key: 'ji-mon-abc123', curves: true };
    const model = { get: (k: string) => traits[k], on: () => undefined, off: () => undefined };
    widget.render({ model, el });
    const root = el.children[0];
    const charts = root.all('jaxinspect-monitor-curve');
    expect(charts.map(c => c.attrs['data-name'])).toEqual(['loss', '<b>x</b>']);
    expect(charts[0].attrs['data-points']).toBe('4');
    const line = charts[0].tagged('path').filter(p => p.attrs['class'] === 'jm-line')[0];
    expect(line.attrs['d'].match(/M/g)!.length).toBe(2); // broken at the NaN
    const bad = root.all('jaxinspect-monitor-curve-bad');
    expect(bad.map(b => [b.attrs['data-value'], b.textContent])).toEqual([['NaN', 'loss: NaN at step 2']]);
    expect(charts[0].textContent).toContain('loss  0.5000'); // the kernel's text, not a number formatted here
    expect(charts[1].textContent).toContain('<b>x</b>  1'); // text, never markup
    const css = root.tagged('style')[0].textContent;
    expect(css).toContain('.ji-mon-abc123{display:none!important}');
    // a key that is not a plain class name is ignored, never put into the CSS
    const el2 = new FakeNode('div');
    const bad2 = { ...traits, snapshot_key: 'x}body{display:none' };
    widget.render({ model: { ...model, get: (k: string) => bad2[k] }, el: el2 });
    expect(el2.children[0].tagged('style')[0].textContent).not.toContain('body{');
    // plot=False: rows and sparklines only
    const el3 = new FakeNode('div');
    const off = { ...traits, curves: false };
    widget.render({ model: { ...model, get: (k: string) => off[k] }, el: el3 });
    expect(el3.children[0].all('jaxinspect-monitor-curve')).toEqual([]);
    expect(el3.children[0].all('jaxinspect-monitor-scalar').length).toBe(2);
  });

  it('redraws the curves at most once a second however fast deltas arrive, and at once at the end', () => {
    vi.useFakeTimers();
    try {
      const el = new FakeNode('div');
      const handlers: { [k: string]: (m?: unknown) => void } = {};
      let snap: { [k: string]: unknown } = { ...snapshot(), scalars: { loss: [[0, 1]] } };
      const model = {
        get: (k: string) => (k === 'snapshot' ? snap : k === 'snapshot_key' ? 'ji-mon-1' : true),
        on: (ev: string, cb: (m?: unknown) => void) => {
          handlers[ev] = cb;
        },
        off: () => undefined
      };
      widget.render({ model, el });
      const root = el.children[0] as any;
      const view = root.jaxinspectView;
      expect(view.redraws).toBe(1);
      for (let i = 1; i <= 30; i++) { // 30 deltas in 300 ms: ~10 messages/s
        handlers['msg:custom']({ type: 'delta', delta: { scalars: { loss: [[i, 1 / i]] } } });
        vi.advanceTimersByTime(10); // the row redraw (animation frame / timeout)
        vi.advanceTimersByTime(0);
      }
      expect(view.redraws).toBe(1); // rows redrawn, curves kept
      vi.advanceTimersByTime(1000);
      expect(view.redraws).toBe(2); // the newest state, within a second
      expect(root.all('jaxinspect-monitor-curve')[0].attrs['data-points']).toBe('31');
      snap = { ...snapshot(), scalars: { loss: [[0, 1], [1, 0.5], [2, 0.25]] } };
      handlers['change:snapshot']();
      vi.advanceTimersByTime(5);
      expect(view.redraws).toBe(3); // the cell ended: the final curves at once
      expect(root.all('jaxinspect-monitor-curve')[0].attrs['data-points']).toBe('3');
    } finally {
      vi.useRealTimers();
    }
  });
});
