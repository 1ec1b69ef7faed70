import * as React from 'react';
import { renderToStaticMarkup } from 'react-dom/server';
import { describe, expect, it, vi } from 'vitest';

import { SessionModel } from '../src/model';
import type { AnyRecord } from '../src/protocol';
import { createDefaultTabs } from '../src/views/builtin';
import {
  Buffers,
  BuffersView,
  EMPTY_TEXT,
  INTERVALS,
  MAX_ALERT_ROWS,
  MAX_DEVICE_ROWS,
  MAX_GROUP_ROWS,
  NOT_ATTRIBUTED_TEXT,
  NOT_CONNECTED_TEXT,
  PARTIAL_TEXT,
  UNOWNED_LABEL,
  buffersBadge,
  interestChanges,
  interestFor,
  interestOnUnmount,
  samplerText,
  sparklinePoints
} from '../src/views/Buffers';
import type { IBuffersViewProps, IInterestSent } from '../src/views/Buffers';
import {
  batch,
  bufferAlert,
  bufferGroup,
  buffersRecord,
  deviceMemory,
  hello
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
  overrides: Partial<IBuffersViewProps> = {}
): IBuffersViewProps {
  return { model, interval: 1, onInterval: () => undefined, ...overrides };
}

function render(model: SessionModel | null, overrides: Partial<IBuffersViewProps> = {}) {
  return renderToStaticMarkup(<BuffersView {...viewProps(model, overrides)} />);
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

/** The value of `attr` on each element with `testid`, in document order. */
function attrs(html: string, testid: string, attr: string): string[] {
  const re = new RegExp(`data-testid="${testid}"[^>]*?${attr}="([^"]*)"`, 'g');
  return Array.from(html.matchAll(re), m => m[1]);
}

/** The outer HTML of the element with `testid` and `attr="value"`, up to `close`. */
function row(html: string, testid: string, attr: string, value: string, close = '</tr>'): string {
  const start = html.indexOf(`data-testid="${testid}" ${attr}="${value}"`);
  expect(start).toBeGreaterThanOrEqual(0);
  return html.slice(start, html.indexOf(close, start));
}

/** The text inside the element with `testid` (tags stripped). */
function text(html: string, testid: string): string {
  const start = html.indexOf(`data-testid="${testid}"`);
  expect(start).toBeGreaterThanOrEqual(0);
  const open = html.indexOf('>', start) + 1;
  const tag = html.lastIndexOf('<', start);
  const name = html.slice(tag + 1).match(/^\w+/)![0];
  let depth = 1;
  const re = new RegExp(`<(/?)${name}\\b[^>]*>`, 'g');
  re.lastIndex = open;
  let m: RegExpExecArray | null;
  let end = html.length;
  while ((m = re.exec(html))) {
    depth += m[1] ? -1 : 1;
    if (depth === 0) {
      end = m.index;
      break;
    }
  }
  return html.slice(open, end).replace(/<[^>]*>/g, '');
}

const MiB = 1024 * 1024;
const GiB = 1024 * MiB;

describe('Buffers tab', () => {
  it('asks for a notebook, points to Overview when not connected, waits for a snapshot', () => {
    expect(render(null)).toContain('Open a notebook to inspect its kernel');
    const model = new SessionModel();
    model.setState('not-loaded');
    expect(render(model)).toContain(NOT_CONNECTED_TEXT);
    expect(render(model)).not.toContain('jaxinspect-buffers-empty');

    const ready = modelWith([]);
    const html = render(ready);
    expect(html).toContain(`data-testid="jaxinspect-buffers-empty">${EMPTY_TEXT}<`);
    expect(EMPTY_TEXT).toBe(
      'Waiting for the first snapshot… (the kernel samples live arrays while this tab is visible)'
    );
    // the interval can be picked before the first snapshot
    expect(html).toContain('data-testid="jaxinspect-buffers-interval"');
    expect(html).not.toContain('jaxinspect-buffers-total');
    expect(html).not.toContain('jaxinspect-buffers-seq');
  });

  it('shows totals, devices, owners, sites and dtypes (CPU: no allocator stats)', () => {
    const model = modelWith([buffersRecord({ seq: 7, took_s: 0.0042, interval_s: 0.5 })]);
    const html = render(model);
    expect(text(html, 'jaxinspect-buffers-total')).toBe('4.0 MiB on devices · 3 arrays');
    expect(html).not.toContain('deleted');

    expect(attrs(html, 'jaxinspect-buffers-device', 'data-device')).toEqual(['cpu:0']);
    const cpu = row(html, 'jaxinspect-buffers-device', 'data-device', 'cpu:0');
    expect(cpu).toContain('>cpu:0<');
    expect(cpu).toContain('>3<');
    expect(cpu).toContain('>4.0 MiB<');
    expect(cpu).toContain('>–<');

    expect(attrs(html, 'jaxinspect-buffers-owner', 'data-owner')).toEqual([
      'state.params[&#x27;Dense_0&#x27;][&#x27;kernel&#x27;]',
      'losses'
    ]);
    const losses = row(html, 'jaxinspect-buffers-owner', 'data-owner', 'losses');
    expect(losses).toContain('title="cell [6] line 4"');
    expect(losses).toContain('>2<');
    expect(losses).toContain('>8 B<');
    expect(losses).toContain('>f32[]<');
    expect(html).toContain('>f32[1024,1024]<');
    expect(html).not.toContain('jaxinspect-buffers-unowned');
    expect(html).not.toContain('jaxinspect-buffers-owners-note');

    expect(attrs(html, 'jaxinspect-buffers-site', 'data-site')).toEqual([
      'cell [5] line 3 (train)',
      'cell [6] line 4'
    ]);
    expect(attrs(html, 'jaxinspect-buffers-dtype', 'data-dtype')).toEqual(['float32']);
    expect(text(html, 'jaxinspect-buffers-dtype')).toBe('float32 4.0 MiB (3 arrays)');

    // sections in order: totals, devices, owners, sites, dtypes, footer
    const order = [
      'jaxinspect-buffers-total',
      'jaxinspect-buffers-device',
      'jaxinspect-buffers-owner',
      'jaxinspect-buffers-site',
      'jaxinspect-buffers-dtype',
      'jaxinspect-buffers-seq'
    ].map(id => html.indexOf(`data-testid="${id}"`));
    expect([...order].sort((a, b) => a - b)).toEqual(order);

    expect(text(html, 'jaxinspect-buffers-seq')).toBe('7');
    expect(html).toContain('snapshot #<span data-testid="jaxinspect-buffers-seq">7</span>');
    expect(html).toContain(' · sampler · took 4.2 ms · every 0.5 s');
  });

  it('shows allocator stats, logical bytes and deleted arrays when present', () => {
    const model = modelWith([
      buffersRecord({
        arrays: 1,
        bytes: 512 * MiB,
        device_bytes: GiB,
        // as the kernel writes them (jaxinspect/units.py): the tab shows them verbatim
        bytes_text: '512.0 MiB',
        device_bytes_text: '1.0 GiB',
        deleted: 2,
        trigger: 'cell',
        interval_s: null,
        devices: [
          deviceMemory({
            device: 'cuda:0',
            platform: 'gpu',
            arrays: 1,
            bytes: 512 * MiB,
            bytes_in_use: 1.2 * GiB,
            peak_bytes_in_use: 3.4 * GiB,
            bytes_limit: 79 * GiB,
            bytes_text: '512.0 MiB',
            in_use_text: '1.2 GiB',
            peak_text: '3.4 GiB',
            limit_text: '79.0 GiB'
          }),
          deviceMemory({
            device: 'cuda:1',
            id: 1,
            platform: 'gpu',
            arrays: 1,
            bytes: 512 * MiB,
            bytes_in_use: 512 * MiB,
            peak_bytes_in_use: null,
            bytes_limit: 79 * GiB,
            bytes_text: '512.0 MiB',
            in_use_text: '512.0 MiB',
            peak_text: '–',
            limit_text: '79.0 GiB'
          })
        ]
      })
    ]);
    const html = render(model);
    expect(text(html, 'jaxinspect-buffers-total')).toBe(
      '1.0 GiB on devices · 1 array · 512.0 MiB logical · 2 deleted'
    );
    expect(attrs(html, 'jaxinspect-buffers-device', 'data-device')).toEqual(['cuda:0', 'cuda:1']);
    expect(row(html, 'jaxinspect-buffers-device', 'data-device', 'cuda:0')).toContain(
      '>1.2 GiB / 3.4 GiB / 79.0 GiB<'
    );
    expect(row(html, 'jaxinspect-buffers-device', 'data-device', 'cuda:1')).toContain(
      '>512.0 MiB / – / 79.0 GiB<'
    );
    expect(html).toContain('in use / peak / limit');
    expect(html).toContain(' · cell · took 4.2 ms · sampler off');
  });

  it('adds the unowned group as the last holder row', () => {
    const model = modelWith([
      buffersRecord({
        unowned: bufferGroup({
          name: '',
          arrays: 4,
          bytes: 3 * 1024,
          bytes_text: '3.0 KiB',
          example: 'i32[256]',
          site: null
        })
      })
    ]);
    const html = render(model);
    const unowned = html.indexOf('data-testid="jaxinspect-buffers-unowned"');
    expect(unowned).toBeGreaterThan(html.lastIndexOf('data-testid="jaxinspect-buffers-owner"'));
    expect(unowned).toBeLessThan(html.indexOf('data-testid="jaxinspect-buffers-site"'));
    const tr = html.slice(unowned, html.indexOf('</tr>', unowned));
    expect(tr).toContain(`>${UNOWNED_LABEL}<`);
    expect(UNOWNED_LABEL).toBe('(no variable holds these)');
    expect(tr).toContain('>4<');
    expect(tr).toContain('>3.0 KiB<');
    expect(tr).toContain('>i32[256]<');

    // only unowned arrays: the table still shows
    const only = render(
      modelWith([
        buffersRecord({
          owners: [],
          unowned: bufferGroup({ name: '', arrays: 1, bytes: 4, example: 'f32[]', site: null })
        })
      ])
    );
    expect(only).toContain('jaxinspect-buffers-unowned');
    expect(only).not.toContain('jaxinspect-buffers-owner"');
  });

  it('says when owners were not computed or the search stopped at its budget', () => {
    const off = render(modelWith([buffersRecord({ attributed: false, owners: [] })]));
    expect(text(off, 'jaxinspect-buffers-owners-note')).toBe(NOT_ATTRIBUTED_TEXT);
    expect(NOT_ATTRIBUTED_TEXT).toBe('owners not computed for this snapshot');
    expect(off).not.toContain('jaxinspect-buffers-owner"');

    const partial = render(
      modelWith([
        buffersRecord({
          partial: true,
          unowned: bufferGroup({ name: '', arrays: 9, bytes: 90, example: 'f32[2]', site: null })
        })
      ])
    );
    expect(text(partial, 'jaxinspect-buffers-owners-note')).toBe(PARTIAL_TEXT);
    expect(PARTIAL_TEXT).toBe(
      'owner search stopped at its budget; some arrays may show as unowned'
    );
    expect(partial).toContain('jaxinspect-buffers-owner"');
    expect(partial).toContain('jaxinspect-buffers-unowned');
  });

  it('shows the latest alert per name, newest first, with its fix', () => {
    const model = modelWith([
      bufferAlert({ id: 1, arrays_delta: 10, message: '`losses` gained 10 f32[] device arrays over the last 3 snapshots' }),
      bufferAlert({
        id: 2,
        group: 'site',
        name: 'cell [5] line 3 (train)',
        message: 'cell [5] line 3 (train) created 12 arrays that stay alive',
        hint: 'delete the arrays you no longer need'
      }),
      bufferAlert({ id: 3 }),
      buffersRecord()
    ]);
    const html = render(model);
    expect(attrs(html, 'jaxinspect-buffers-alert', 'data-name')).toEqual([
      'losses',
      'cell [5] line 3 (train)'
    ]);
    expect(html).toContain(
      '<code class="jp-JaxInspect-name" title="losses">losses</code> gained 30 f32[] device arrays over the last 3 snapshots'
    );
    expect(html).not.toContain('gained 10 f32[]');
    expect(html).toContain(
      'fix: store float(loss) or jax.device_get(loss) instead of the device array'
    );
    expect(html).toContain('fix: delete the arrays you no longer need');
    // alerts sit between the totals and the device table
    const alert = html.indexOf('jaxinspect-buffers-alert');
    expect(alert).toBeGreaterThan(html.indexOf('jaxinspect-buffers-total'));
    expect(alert).toBeLessThan(html.indexOf('jaxinspect-buffers-device'));
  });

  it('draws the sparkline only with two or more snapshots', () => {
    const model = new SessionModel();
    model.applyHello(hello());
    const snap = (seq: number, time: number, mib: number) =>
      buffersRecord({ seq, time, device_bytes: mib * MiB, device_bytes_text: `${mib}.0 MiB` });
    model.applyBatch(batch(1, [snap(1, 10, 1)]));
    expect(render(model)).not.toContain('jaxinspect-buffers-sparkline');
    model.applyBatch(batch(2, [snap(2, 11, 3)]));
    model.applyBatch(batch(3, [snap(3, 13, 2)]));
    const html = render(model);
    expect(html).toContain('data-testid="jaxinspect-buffers-sparkline"');
    expect(html).toMatch(/<polyline[^>]*points="0\.0,30\.0 66\.7,2\.0 200\.0,16\.0"/);
    expect(text(html, 'jaxinspect-buffers-min')).toBe('min 1.0 MiB');
    expect(text(html, 'jaxinspect-buffers-max')).toBe('max 3.0 MiB');
    // the sparkline sits under the total
    expect(html.indexOf('jaxinspect-buffers-sparkline')).toBeGreaterThan(
      html.indexOf('jaxinspect-buffers-total')
    );
  });

  it('computes sparkline points by time, or by index, flat when nothing changes', () => {
    const p = (time: number, device_bytes: number) => ({ seq: 0, time, device_bytes, arrays: 0 });
    expect(sparklinePoints([])).toBeNull();
    expect(sparklinePoints([p(1, 5)])).toBeNull();
    expect(sparklinePoints([p(1, 5), p(2, 5)], 100, 20)).toBe('0.0,10.0 100.0,10.0');
    // equal times: spread by index
    expect(sparklinePoints([p(1, 0), p(1, 10), p(1, 5)], 100, 20)).toBe(
      '0.0,18.0 50.0,2.0 100.0,10.0'
    );
  });

  it('bounds the lists with "more" markers', () => {
    const owners = Array.from({ length: MAX_GROUP_ROWS + 5 }, (_, i) =>
      bufferGroup({ name: `o${i}` })
    );
    const sites = Array.from({ length: MAX_GROUP_ROWS + 2 }, (_, i) =>
      bufferGroup({ name: `s${i}` })
    );
    const devices = Array.from({ length: MAX_DEVICE_ROWS + 3 }, (_, i) =>
      deviceMemory({ device: `cpu:${i}`, id: i })
    );
    const alerts = Array.from({ length: MAX_ALERT_ROWS + 4 }, (_, i) =>
      bufferAlert({ id: i, name: `a${i}` })
    );
    const html = render(modelWith([...alerts, buffersRecord({ owners, sites, devices })]));
    expect(attrs(html, 'jaxinspect-buffers-owner', 'data-owner')).toHaveLength(MAX_GROUP_ROWS);
    expect(html).toMatch(/data-testid="jaxinspect-buffers-owner-more"><td colSpan="4">5 more</);
    expect(attrs(html, 'jaxinspect-buffers-site', 'data-site')).toHaveLength(MAX_GROUP_ROWS);
    expect(html).toMatch(/data-testid="jaxinspect-buffers-site-more"><td colSpan="4">2 more</);
    expect(attrs(html, 'jaxinspect-buffers-device', 'data-device')).toHaveLength(MAX_DEVICE_ROWS);
    expect(html).toContain('>3 more<');
    const shownAlerts = attrs(html, 'jaxinspect-buffers-alert', 'data-name');
    expect(shownAlerts).toHaveLength(MAX_ALERT_ROWS);
    expect(shownAlerts[0]).toBe(`a${MAX_ALERT_ROWS + 3}`);
    expect(text(html, 'jaxinspect-buffers-alert-more')).toBe('4 more alerts');
  });

  it('escapes kernel strings', () => {
    const evil = '<img src=x onerror=alert(1)>';
    const group = bufferGroup({ name: evil, example: evil, site: evil });
    const model = modelWith([
      bufferAlert({ name: evil, message: evil, hint: evil }),
      buffersRecord({
        trigger: evil,
        devices: [deviceMemory({ device: evil, platform: evil })],
        owners: [group],
        sites: [group],
        dtypes: [group],
        unowned: { ...group, arrays: 1 }
      })
    ]);
    const html = render(model);
    expect(html).toContain('jaxinspect-buffers-unowned');
    expect(html).not.toContain('<img');
    expect(html).toContain('&lt;img src=x onerror=alert(1)&gt;');
    for (const attr of ['data-name', 'data-device', 'data-owner', 'data-site', 'data-dtype']) {
      expect(html).toContain(`${attr}="&lt;img src=x onerror=alert(1)&gt;"`);
    }
  });

  it('offers the sampling intervals and reports a new pick', () => {
    expect(INTERVALS).toEqual([0.5, 1, 2, 5]);
    const model = modelWith([buffersRecord()]);
    const html = render(model, { interval: 2 });
    const select = html.slice(
      html.indexOf('data-testid="jaxinspect-buffers-interval"'),
      html.indexOf('</select>')
    );
    expect(Array.from(select.matchAll(/<option[^>]*value="([^"]*)"/g), m => m[1])).toEqual([
      '0.5',
      '1',
      '2',
      '5'
    ]);
    expect(select).toMatch(/<option[^>]*value="2"[^>]*selected/);
    expect(select).not.toMatch(/<option[^>]*value="1"[^>]*selected/);

    const onInterval = vi.fn();
    const [el] = findAll(
      <BuffersView {...viewProps(model, { onInterval })} />,
      byTestId('jaxinspect-buffers-interval')
    );
    expect(el.type).toBe('select');
    el.props.onChange({ currentTarget: { value: '0.5' } });
    expect(onInterval).toHaveBeenCalledWith(0.5);

    // the stateful tab starts at 1 s
    const tab = renderToStaticMarkup(<Buffers model={model} now={0} actions={actions} />);
    expect(tab).toMatch(/<option[^>]*value="1"[^>]*selected/);
    expect(tab).toContain('jaxinspect-buffers-total');
  });

  it('badges the live array count and is registered after Compiles', () => {
    expect(buffersBadge(null)).toBeNull();
    expect(buffersBadge(modelWith([]))).toBeNull();
    expect(buffersBadge(modelWith([buffersRecord({ arrays: 42 })]))).toBe('42');
    const tabs = createDefaultTabs().tabs;
    expect(tabs.map(t => t.id).slice(0, 3)).toEqual(['overview', 'compiles', 'buffers']);
    expect(tabs[2].label).toBe('Buffers');
    expect(tabs[2].component).toBe(Buffers);
    expect(tabs[2].badge).toBe(buffersBadge);
  });
});

describe('Buffers interest', () => {
  it('wants the interval only for a ready, visible notebook', () => {
    expect(interestFor(null, true, 1)).toBe(0);
    const model = new SessionModel();
    expect(interestFor(model, true, 1)).toBe(0);
    model.setState('connecting');
    expect(interestFor(model, true, 1)).toBe(0);
    model.applyHello(hello());
    expect(interestFor(model, true, 2)).toBe(2);
    expect(interestFor(model, true, 0.5)).toBe(0.5);
    expect(interestFor(model, false, 2)).toBe(0);
    model.dispose();
    expect(interestFor(model, true, 2)).toBe(0);
  });

  it('sends the interval on mount, 0 on hide and unmount, nothing when nothing changed', () => {
    const a = modelWith([]);
    let prev: IInterestSent | null = null;
    const step = (model: SessionModel | null, visible: boolean, interval: number) => {
      const r = interestChanges(prev, model, model?.session ?? null, interestFor(model, visible, interval));
      prev = r.next;
      return r.sends.map(s => [s.model === a ? 'a' : 'b', s.seconds]);
    };
    expect(step(a, true, 1)).toEqual([['a', 1]]);
    // re-renders (timer, batches) change nothing
    a.applyBatch(batch(2, [buffersRecord()]));
    expect(step(a, true, 1)).toEqual([]);
    expect(step(a, true, 1)).toEqual([]);
    // a new interval replaces the old one without a 0 in between
    expect(step(a, true, 2)).toEqual([['a', 2]]);
    // the sidebar is collapsed, then shown again
    expect(step(a, false, 2)).toEqual([['a', 0]]);
    expect(step(a, false, 2)).toEqual([]);
    expect(step(a, true, 2)).toEqual([['a', 2]]);
    // unmount (tab switched away)
    expect(interestOnUnmount(prev).map(s => [s.model === a ? 'a' : 'b', s.seconds])).toEqual([
      ['a', 0]
    ]);
    expect(interestOnUnmount(null)).toEqual([]);
  });

  it('moves to another notebook and follows restarts', () => {
    const a = modelWith([]);
    const b = new SessionModel();
    b.setState('connecting');
    let prev: IInterestSent | null = null;
    const name = (m: SessionModel) => (m === a ? 'a' : 'b');
    const step = (model: SessionModel | null) => {
      const r = interestChanges(prev, model, model?.session ?? null, interestFor(model, true, 1));
      prev = r.next;
      return r.sends.map(s => [name(s.model), s.seconds]);
    };
    expect(step(a)).toEqual([['a', 1]]);
    // another notebook, not connected yet: the old one stops, the new one waits
    expect(step(b)).toEqual([['a', 0]]);
    b.applyHello(hello());
    expect(step(b)).toEqual([['b', 1]]);
    // b restarts: nothing to tell a restarting kernel, then ask again once ready
    b.setState('connecting', 'The kernel is restarting.');
    expect(step(b)).toEqual([]);
    b.applyHello(hello());
    expect(step(b)).toEqual([['b', 1]]);
    // a fresh hello without leaving 'ready' (reconnect) asks again too
    b.applyHello(hello());
    expect(step(b)).toEqual([['b', 1]]);
    // back to a; b is still connected, so it is told to stop
    expect(step(a)).toEqual([
      ['b', 0],
      ['a', 1]
    ]);
    // all notebooks closed: a (disposed) is not told anything
    a.dispose();
    expect(step(null)).toEqual([]);
    expect(prev).toBeNull();
  });

  it('does not tell a kernel that went away to stop', () => {
    const a = modelWith([]);
    const sent: IInterestSent = { model: a, session: a.session, seconds: 1 };
    a.setState('dead', 'The kernel died.');
    expect(interestOnUnmount(sent)).toEqual([]);
    expect(interestOnUnmount({ ...sent, seconds: 0 })).toEqual([]);
  });
});

describe('buffer formatters', () => {
  // Bytes are formatted once, in the kernel (tests/test_derived.py checks the rules).
  it('says how often the sampler runs', () => {
    expect(samplerText(1)).toBe('every 1 s');
    expect(samplerText(0.5)).toBe('every 0.5 s');
    expect(samplerText(null)).toBe('sampler off');
  });
});
