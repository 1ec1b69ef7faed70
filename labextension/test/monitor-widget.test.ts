/**
 * The in-cell monitor widget (jaxinspect/glue/monitor_esm.js) shows what the kernel sent: every
 * number arrives as text (`*_text`, `text`, `message`, `compiles`) formatted once by
 * jaxinspect/units.py (tests/test_derived.py checks how), and the widget formats none itself.
 */

import { afterEach, beforeEach, describe, expect, it } from 'vitest';

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
});
