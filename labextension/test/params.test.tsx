import * as React from 'react';
import { renderToStaticMarkup } from 'react-dom/server';
import { describe, expect, it, vi } from 'vitest';

import { SessionModel } from '../src/model';
import type { AnyRecord } from '../src/protocol';
import { createDefaultTabs } from '../src/views/builtin';
import { interestParams } from '../src/views/interest';
import {
  INTERVALS,
  MAX_ALERT_ROWS,
  MAX_LAYER_ROWS,
  NOT_CONNECTED_TEXT,
  Params,
  ParamsView,
  WATCH_CALL,
  WATCH_MAGIC,
  intervalText,
  latestParamAlerts,
  layerNormSeries,
  normSeries,
  paramsBadge,
  updateSeries
} from '../src/views/Params';
import type { IParamsViewProps } from '../src/views/Params';
import { linePoints } from '../src/views/sparkline';
import { batch, hello, paramLayer, paramsAlert, paramsWatch } from './fixtures';
import { attrs, byTestId, count, element, findAll, text } from './html';

const actions = { loadExtension: () => undefined, reconnect: () => undefined };

function modelWith(records: AnyRecord[]): SessionModel {
  const model = new SessionModel();
  model.applyHello(hello());
  model.applyBatch(batch(1, records));
  return model;
}

function viewProps(
  model: SessionModel | null,
  overrides: Partial<IParamsViewProps> = {}
): IParamsViewProps {
  return { model, interval: 1, onInterval: () => undefined, ...overrides };
}

function render(model: SessionModel | null, overrides: Partial<IParamsViewProps> = {}) {
  return renderToStaticMarkup(<ParamsView {...viewProps(model, overrides)} />);
}

const DENSE_0 = "[&#x27;params&#x27;][&#x27;Dense_0&#x27;]";
const DENSE_1 = "[&#x27;params&#x27;][&#x27;Dense_1&#x27;]";

describe('Params tab', () => {
  it('asks for a notebook, points to Overview when not connected, explains how to watch', () => {
    expect(render(null)).toContain('Open a notebook to inspect its kernel');
    const model = new SessionModel();
    model.setState('not-loaded');
    expect(render(model)).toContain(NOT_CONNECTED_TEXT);
    expect(render(model)).not.toContain('jaxinspect-params-empty');
    expect(render(model)).not.toContain('jaxinspect-params-interval');

    const html = render(modelWith([]));
    expect(WATCH_CALL).toBe('jaxinspect.watch("params", state.params, step=i)');
    expect(WATCH_MAGIC).toBe('%jaxinspect watch EXPR');
    expect(text(html, 'jaxinspect-params-empty')).toBe(
      'Nothing watched yet. Call jaxinspect.watch(&quot;params&quot;, state.params, step=i) ' +
        'inside the training loop, or run %jaxinspect watch EXPR before the training cell; ' +
        'samples show here while this tab is visible.'
    );
    expect(html).toContain('<code>%jaxinspect watch EXPR</code>');
    // the interval can be picked before the first sample
    expect(html).toContain('data-testid="jaxinspect-params-interval"');
    expect(html).not.toContain('jaxinspect-params-watch');
  });

  it('shows a watched tree: step, norm, values, no update on the first sample', () => {
    const model = modelWith([
      paramsWatch({
        seq: 1,
        update: null,
        update_text: '–',
        layers: [paramLayer({ update: null, update_text: '–' })]
      })
    ]);
    const html = render(model);
    expect(attrs(html, 'jaxinspect-params-watch', 'data-name')).toEqual(['params']);
    expect(attrs(html, 'jaxinspect-params-watch', 'data-nonfinite')).toEqual(['false']);
    expect(text(html, 'jaxinspect-params-name')).toBe('params');
    expect(text(html, 'jaxinspect-params-step')).toBe('100');
    expect(text(html, 'jaxinspect-params-norm')).toBe('33.25');
    expect(text(html, 'jaxinspect-params-update')).toBe('–');
    expect(text(html, 'jaxinspect-params-values')).toBe('1.1M');
    expect(html).toContain('title="1059850 values in 4 leaves"');
    expect(text(html, 'jaxinspect-params-nonfinite')).toBe('0 non-finite');
    expect(html).toMatch(/class="jp-JaxInspect-dim" data-testid="jaxinspect-params-nonfinite"/);
    // one sample: no sparklines yet
    expect(html).not.toContain('sparkline');
    const layer = element(html, 'jaxinspect-params-layer', 'data-path', DENSE_0);
    expect(layer).toContain('data-nonfinite="false"');
    expect(layer).toContain(
      `<div class="jp-JaxInspect-code jp-JaxInspect-paramsPath" title="${DENSE_0}">${DENSE_0}</div>`
    );
    expect(Array.from(layer.matchAll(/<td class="jp-JaxInspect-num" data-label="[^"]*">([^<]*)</g), m => m[1])).toEqual(
      ['1.0M', '32.5', '–', '0', '0']
    );
    expect(text(html, 'jaxinspect-params-seq')).toBe('1');
    expect(html).toContain(
      'sample #<span data-testid="jaxinspect-params-seq">1</span> · took 2.1 ms · every 1 s'
    );
    expect(html).not.toContain('jaxinspect-params-note');
    expect(html).not.toContain('jaxinspect-params-layers-more');
  });

  it('shows update ratios, layers in tree order, a missing step and the note', () => {
    const model = modelWith([
      paramsWatch({
        step: null,
        interval_s: null,
        note: 'leaves were donated or deleted: sample skipped'
      })
    ]);
    const html = render(model);
    expect(text(html, 'jaxinspect-params-step')).toBe('–');
    expect(text(html, 'jaxinspect-params-update')).toBe('1.2e-3');
    expect(attrs(html, 'jaxinspect-params-layer', 'data-path')).toEqual([DENSE_0, DENSE_1]);
    const dense1 = element(html, 'jaxinspect-params-layer', 'data-path', DENSE_1);
    expect(dense1).toContain('>10k<');
    expect(dense1).toContain('>3.5<');
    expect(dense1).toContain('>3.4e-3<');
    expect(text(html, 'jaxinspect-params-note')).toBe(
      'leaves were donated or deleted: sample skipped'
    );
    // no interval: the footer line says nothing about it
    expect(html).toContain('</span> · took 2.1 ms</div>');
  });

  it('draws sparklines only with two or more points', () => {
    const model = new SessionModel();
    model.applyHello(hello());
    // each sample's numbers come with the kernel's text (the range labels show it)
    const sample = (seq: number, time: number, norm: number, update: number | null) =>
      paramsWatch({
        seq,
        time,
        norm,
        update,
        norm_text: String(norm),
        update_text: update === null ? '–' : `${(update * 100).toFixed(1)}e-2`
      });
    model.applyBatch(batch(1, [sample(1, 10, 1, null)]));
    expect(render(model)).not.toContain('sparkline');
    model.applyBatch(
      batch(2, [
        {
          ...sample(2, 11, 3, 0.01),
          layers: [paramLayer({ norm: 5 }), paramLayer({ path: 'only-now', norm: 1 })]
        }
      ])
    );
    let html = render(model);
    // two norms, but one update (the first sample has none)
    expect(count(html, 'jaxinspect-params-norm-sparkline')).toBe(1);
    expect(html).not.toContain('jaxinspect-params-update-sparkline');
    expect(html).toMatch(
      /data-testid="jaxinspect-params-norm-sparkline"[^>]*>.*?<polyline[^>]*points="0\.0,22\.0 200\.0,2\.0"/
    );
    expect(html).toContain('>1 – 3<');
    // the layer seen twice gets a sparkline, the new one does not
    expect(element(html, 'jaxinspect-params-layer', 'data-path', DENSE_0)).toContain(
      'jaxinspect-params-layer-sparkline'
    );
    expect(element(html, 'jaxinspect-params-layer', 'data-path', 'only-now')).not.toContain(
      'sparkline'
    );

    model.applyBatch(batch(3, [sample(3, 13, 2, 0.03)]));
    html = render(model);
    expect(count(html, 'jaxinspect-params-norm-sparkline')).toBe(1);
    expect(count(html, 'jaxinspect-params-update-sparkline')).toBe(1);
    expect(html).toMatch(
      /data-testid="jaxinspect-params-update-sparkline"[^>]*>.*?<polyline[^>]*points="0\.0,22\.0 200\.0,2\.0"/
    );
    expect(html).toContain('>1.0e-2 – 3.0e-2<');
    // the norm sparkline sits above the update one, both above the layer table
    expect(html.indexOf('jaxinspect-params-norm-sparkline')).toBeLessThan(
      html.indexOf('jaxinspect-params-update-sparkline')
    );
    expect(html.indexOf('jaxinspect-params-update-sparkline')).toBeLessThan(
      html.indexOf('jaxinspect-params-layer"')
    );
  });

  it('computes the series from the history, leaving unknowns out', () => {
    const model = new SessionModel();
    model.applyHello(hello());
    model.applyBatch(
      batch(1, [
        paramsWatch({ seq: 1, time: 1, norm: 1, update: null }),
        paramsWatch({ seq: 2, time: 2, norm: null as unknown as number, update: 0.5, layers: [] }),
        paramsWatch({ seq: 3, time: 3, norm: 3, update: 0.25 })
      ])
    );
    const history = model.paramWatches.get('params')!.history;
    expect(normSeries(history)).toEqual([
      { t: 1, v: 1 },
      { t: 3, v: 3 }
    ]);
    expect(updateSeries(history)).toEqual([
      { t: 2, v: 0.5 },
      { t: 3, v: 0.25 }
    ]);
    expect(layerNormSeries(history, "['params']['Dense_0']")).toEqual([
      { t: 1, v: 32.5 },
      { t: 3, v: 32.5 }
    ]);
    expect(layerNormSeries(history, 'nope')).toEqual([]);
    expect(linePoints([{ t: 0, v: 1 }], 10, 10)).toBeNull();
    expect(linePoints([{ t: 0, v: 1 }, { t: 0, v: 1 }], 10, 10, 1)).toBe('0.0,5.0 10.0,5.0');
  });

  it('highlights non-finite leaves in the header, the section and the layer rows', () => {
    const model = modelWith([
      paramsWatch({
        nonfinite: 2,
        norm: null as unknown as number,
        norm_text: 'NaN',
        layers: [paramLayer({ nan: 3, inf: 0 }), paramLayer({ path: 'b', inf: 1 }), paramLayer({ path: 'ok' })]
      })
    ]);
    const html = render(model);
    expect(attrs(html, 'jaxinspect-params-watch', 'data-nonfinite')).toEqual(['true']);
    expect(html).toContain('jp-JaxInspect-paramsNonfinite');
    expect(text(html, 'jaxinspect-params-nonfinite')).toBe('2 non-finite');
    expect(html).toMatch(
      /class="jp-JaxInspect-errorText" data-testid="jaxinspect-params-nonfinite"/
    );
    // the norm of values that hold NaN is NaN, not unknown
    expect(text(html, 'jaxinspect-params-norm')).toBe('NaN');
    expect(attrs(html, 'jaxinspect-params-layer', 'data-nonfinite')).toEqual([
      'true',
      'true',
      'false'
    ]);
    const nan = element(html, 'jaxinspect-params-layer', 'data-path', DENSE_0);
    expect(nan).toContain('class="jp-JaxInspect-paramsLayerBad"');
    expect(nan).toContain('<td class="jp-JaxInspect-num jp-JaxInspect-paramsBadCell" data-label="NaN">3</td>');
    expect(nan).toMatch(/<td class="jp-JaxInspect-num" data-label="Inf">0<\/td>$/);
    const inf = element(html, 'jaxinspect-params-layer', 'data-path', 'b');
    expect(inf).toContain('<td class="jp-JaxInspect-num jp-JaxInspect-paramsBadCell" data-label="Inf">1</td>');
    const ok = element(html, 'jaxinspect-params-layer', 'data-path', 'ok');
    expect(ok).not.toContain('Bad');
  });

  it('shows alerts first, newest first, the newest record per alert id, with their fix', () => {
    const model = modelWith([
      paramsAlert({ id: 1, step: 10, message: 'params: old NaN at step 10' }),
      paramsAlert({
        id: 2,
        name: 'ema',
        path: '.w',
        step: null,
        nan: 0,
        inf: 2,
        message: 'ema: .w turned Inf',
        hint: 'check the EMA decay',
        last_finite_step: null
      }),
      // the same alert again (e.g. with its cause): replaces id 1 in its place
      paramsAlert({ id: 1 }),
      paramsWatch()
    ]);
    const html = render(model);
    expect(attrs(html, 'jaxinspect-params-alert', 'data-name')).toEqual(['ema', 'params']);
    expect(attrs(html, 'jaxinspect-params-alert', 'data-alert-id')).toEqual(['2', '1']);
    expect(attrs(html, 'jaxinspect-params-alert', 'data-path')).toEqual([
      '.w',
      "[&#x27;params&#x27;][&#x27;Dense_0&#x27;][&#x27;kernel&#x27;]"
    ]);
    expect(html).toContain(
      'params: [&#x27;params&#x27;][&#x27;Dense_0&#x27;][&#x27;kernel&#x27;] turned NaN at step 1234'
    );
    expect(html).not.toContain('old NaN');
    expect(html).toContain(
      'fix: lower the learning rate or clip gradients (optax.clip_by_global_norm)'
    );
    expect(html).toContain('fix: check the EMA decay');
    expect(html).toContain('title="12 NaN · 0 inf · step 1234 · last finite step 1233"');
    expect(html).toContain('title="0 NaN · 2 inf"');
    expect(html).toMatch(/class="jp-JaxInspect-alert jp-JaxInspect-alert-error"/);
    expect(html.indexOf('jaxinspect-params-alert')).toBeLessThan(
      html.indexOf('jaxinspect-params-watch')
    );
    expect(latestParamAlerts([]).length).toBe(0);

    // alerts without any sample yet: shown above the empty hint
    const early = render(modelWith([paramsAlert()]));
    expect(early.indexOf('jaxinspect-params-alert')).toBeLessThan(
      early.indexOf('jaxinspect-params-empty')
    );
  });

  it('bounds alerts and layers with "more" markers', () => {
    const alerts = Array.from({ length: MAX_ALERT_ROWS + 4 }, (_, i) =>
      paramsAlert({ id: i, path: `p${i}` })
    );
    const html = render(modelWith([...alerts, paramsWatch({ more_layers: 5 })]));
    const shown = attrs(html, 'jaxinspect-params-alert', 'data-path');
    expect(shown).toHaveLength(MAX_ALERT_ROWS);
    expect(shown[0]).toBe(`p${MAX_ALERT_ROWS + 3}`);
    expect(text(html, 'jaxinspect-params-alert-more')).toBe('4 more alerts');
    expect(html).toMatch(/data-testid="jaxinspect-params-layers-more"><td colSpan="6">5 more layers</);
    // the more marker is the last row of the table
    expect(html.indexOf('jaxinspect-params-layers-more')).toBeGreaterThan(
      html.lastIndexOf('jaxinspect-params-layer"')
    );

    const many = Array.from({ length: MAX_LAYER_ROWS + 2 }, (_, i) => paramLayer({ path: `l${i}` }));
    const big = render(modelWith([paramsWatch({ layers: many, more_layers: 3 })]));
    expect(attrs(big, 'jaxinspect-params-layer', 'data-path')).toHaveLength(MAX_LAYER_ROWS);
    expect(text(big, 'jaxinspect-params-layers-more')).toBe('5 more layers');
  });

  it('shows every watched name in the order first seen', () => {
    const model = modelWith([
      paramsWatch({ name: 'params', seq: 1, step: 5 }),
      paramsWatch({ name: 'opt_state', seq: 1, step: 7, layers: [] }),
      paramsWatch({ name: 'params', seq: 2, step: 6 })
    ]);
    const html = render(model);
    expect(attrs(html, 'jaxinspect-params-watch', 'data-name')).toEqual(['params', 'opt_state']);
    const steps = [...html.matchAll(/data-testid="jaxinspect-params-step">([^<]*)</g)].map(m => m[1]);
    expect(steps).toEqual(['6', '7']);
    // a watch without layers has no table
    const opt = html.slice(html.indexOf('data-name="opt_state"'));
    expect(opt).not.toContain('<table');
  });

  it('escapes kernel strings', () => {
    const evil = '<img src=x onerror=alert(1)>';
    const model = modelWith([
      paramsAlert({ name: evil, path: evil, message: evil, hint: evil }),
      paramsWatch({
        name: evil,
        note: evil,
        layers: [paramLayer({ path: evil, nan: 1 })]
      })
    ]);
    const html = render(model);
    expect(html).not.toContain('<img');
    expect(html).toContain('&lt;img src=x onerror=alert(1)&gt;');
    for (const [testid, attr] of [
      ['jaxinspect-params-alert', 'data-name'],
      ['jaxinspect-params-alert', 'data-path'],
      ['jaxinspect-params-watch', 'data-name'],
      ['jaxinspect-params-layer', 'data-path']
    ]) {
      expect(attrs(html, testid, attr)).toEqual(['&lt;img src=x onerror=alert(1)&gt;']);
    }
    expect(text(html, 'jaxinspect-params-name')).toBe('&lt;img src=x onerror=alert(1)&gt;');
    expect(text(html, 'jaxinspect-params-note')).toBe('&lt;img src=x onerror=alert(1)&gt;');
    expect(html).toContain('fix: &lt;img src=x onerror=alert(1)&gt;');
  });

  it('offers the sampling intervals and reports a new pick', () => {
    expect(INTERVALS).toEqual([0.5, 1, 2, 5]);
    const model = modelWith([paramsWatch()]);
    const html = render(model, { interval: 2 });
    const select = html.slice(
      html.indexOf('data-testid="jaxinspect-params-interval"'),
      html.indexOf('</select>')
    );
    expect(Array.from(select.matchAll(/<option[^>]*value="([^"]*)"/g), m => m[1])).toEqual([
      '0.5',
      '1',
      '2',
      '5'
    ]);
    expect(select).toMatch(/<option[^>]*value="2"[^>]*selected/);

    const onInterval = vi.fn();
    const [el] = findAll(
      <ParamsView {...viewProps(model, { onInterval })} />,
      byTestId('jaxinspect-params-interval')
    );
    expect(el.type).toBe('select');
    el.props.onChange({ currentTarget: { value: '5' } });
    expect(onInterval).toHaveBeenCalledWith(5);

    // the stateful tab starts at 1 s
    const tab = renderToStaticMarkup(<Params model={model} now={0} actions={actions} />);
    expect(tab).toMatch(/<option[^>]*value="1"[^>]*selected/);
    expect(tab).toContain('jaxinspect-params-watch');
  });

  it('badges the watched names (⚠ on alerts) and is registered after Buffers', () => {
    expect(paramsBadge(null)).toBeNull();
    expect(paramsBadge(modelWith([]))).toBeNull();
    expect(paramsBadge(modelWith([paramsWatch()]))).toBe('1');
    expect(paramsBadge(modelWith([paramsWatch(), paramsWatch({ name: 'ema' })]))).toBe('2');
    expect(paramsBadge(modelWith([paramsWatch(), paramsAlert()]))).toBe('1 ⚠');
    expect(paramsBadge(modelWith([paramsAlert()]))).toBe('⚠');
    const tabs = createDefaultTabs().tabs;
    expect(tabs.map(t => t.id)).toEqual([
      'overview',
      'compiles',
      'buffers',
      'params',
      'keys',
      'processes'
    ]);
    expect(tabs[3].label).toBe('Params');
    expect(tabs[3].component).toBe(Params);
    expect(tabs[3].badge).toBe(paramsBadge);
  });
});

describe('params formatters', () => {
  // counts, ratios and norms are formatted once, in the kernel (tests/test_derived.py)
  it('says how often the sampler runs', () => {
    expect(intervalText(1)).toBe('every 1 s');
    expect(intervalText(0.5)).toBe('every 0.5 s');
    expect(intervalText(null)).toBe('');
    expect(intervalText(0)).toBe('');
    expect(intervalText(37.409976500000002)).toBe('every 37 s');
    expect(intervalText(0.25)).toBe('every 0.25 s');
  });

  it('builds interest params with only the keys a tab sets', () => {
    expect(interestParams({ params: 2 })).toEqual({ params: 2 });
    expect(interestParams({ buffers: 0 })).toEqual({ buffers: 0 });
    expect(interestParams({ buffers: 1, params: 0.5 })).toEqual({ buffers: 1, params: 0.5 });
    expect(interestParams({ params: undefined })).toEqual({});
    expect(interestParams({ params: -1 })).toEqual({ params: 0 });
    expect(interestParams({ params: NaN })).toEqual({});
  });
});
