/**
 * Params tab, issue 15 §1: a NaN/Inf alert shows the kernel's message, the leaves non-finite at
 * the first bad step (k of n), which steps were checked and, once `nan_guard` replayed the step,
 * the cause (a later record with the same id); norms of NaN values read NaN, never 0 or "–".
 */

import * as React from 'react';
import { renderToStaticMarkup } from 'react-dom/server';
import { describe, expect, it } from 'vitest';

import { SessionModel } from '../src/model';
import type { AnyRecord, IParamsAlert } from '../src/protocol';
import {
  MAX_ALERT_LEAVES,
  ParamsView,
  latestParamAlerts,
  layerNormSeries,
  normSeries,
  paramsBadge
} from '../src/views/Params';
import { batch, hello, paramLayer, paramsAlert, paramsWatch, processRecord, remote } from './fixtures';
import { attrs, count, element, text } from './html';

function modelWith(records: AnyRecord[]): SessionModel {
  const model = new SessionModel();
  model.applyHello(hello());
  model.applyBatch(batch(1, records));
  return model;
}

function render(model: SessionModel): string {
  return renderToStaticMarkup(
    <ParamsView model={model} interval={1} onInterval={() => undefined} />
  );
}

/** What the kernel sends (captured from `Watcher`), NaN put into ['c'] at step 9. */
function firstAlert(overrides: Partial<IParamsAlert> = {}): IParamsAlert {
  return paramsAlert({
    id: 1,
    step: 9,
    path: "['c']",
    nan: 1,
    inf: 0,
    message:
      "params: first NaN at step 9, last finite step 8 (every watched step checked); " +
      "1 of 3 leaves: ['c'] (1 NaN)",
    hint:
      'find the operation that made it: wrap the step with jaxinspect.nan_guard(step) to ' +
      'replay that step with NaN checking; lower the learning rate or clip gradients ' +
      '(optax.clip_by_global_norm)',
    last_finite_step: 8,
    bad_leaves: 1,
    total_leaves: 3,
    leaves: ["['c']"],
    checked: 'every watched step checked',
    cause: null,
    leaves_text: '1 of 3 leaves non-finite',
    ...overrides
  });
}

const CAUSE =
  'replaying call 8 of train_step with jax_debug_nans: the first NaN came from `log` at ' +
  'cell [4] line 6: `loss = jnp.log(scale)` — equation `d:f32[] = log c`';

/**
 * The same alert once nan_guard replayed the step (same id, cause filled, appended to the
 * message; the kernel's `headline` is the message without it: tests/test_derived.py).
 */
function withCause(a: IParamsAlert): IParamsAlert {
  return {
    ...a,
    time: a.time + 2,
    cause: CAUSE,
    message: `${a.message}. Cause: ${CAUSE}`,
    headline: a.message
  };
}

const q = (s: string) => s.replace(/'/g, '&#x27;');

describe('Params tab: NaN/Inf alerts', () => {
  it('shows the message, the leaves (k of n), the checked steps and no cause yet', () => {
    const html = render(modelWith([firstAlert()]));
    expect(count(html, 'jaxinspect-params-alert')).toBe(1);
    expect(text(html, 'jaxinspect-params-alert-message')).toBe(q(firstAlert().message));
    expect(text(html, 'jaxinspect-params-alert-leaves-count')).toBe('1 of 3 leaves non-finite');
    expect(attrs(html, 'jaxinspect-params-alert-leaf', 'title')).toEqual([q("['c']")]);
    expect(text(html, 'jaxinspect-params-alert-leaf')).toBe(q("['c']"));
    expect(html).not.toContain('jaxinspect-params-alert-leaves-more');
    expect(text(html, 'jaxinspect-params-alert-checked')).toBe('every watched step checked');
    expect(html).not.toContain('jaxinspect-params-alert-cause');
    expect(html).toContain('title="1 NaN · 0 inf · step 9 · last finite step 8"');
    // the order: message, leaves, checked, fix
    const order = [
      'jaxinspect-params-alert-message',
      'jaxinspect-params-alert-leaves-count',
      'jaxinspect-params-alert-leaf',
      'jaxinspect-params-alert-checked',
      'fix: find the operation'
    ].map(s => html.indexOf(s));
    expect(order.every(i => i >= 0)).toBe(true);
    expect([...order].sort((a, b) => a - b)).toEqual(order);
  });

  it('replaces an alert by the newer record with the same id: the cause appears once', () => {
    const a = firstAlert();
    const other = firstAlert({ id: 2, name: 'ema', message: 'ema: first NaN at step 9' });
    const model = modelWith([a, other]);
    model.applyBatch(batch(2, [withCause(a)]));
    const alerts = latestParamAlerts(model.paramAlerts);
    expect(alerts.map(x => x.id)).toEqual([2, 1]);
    expect(alerts[1].cause).toBe(CAUSE);

    const html = render(model);
    expect(attrs(html, 'jaxinspect-params-alert', 'data-alert-id')).toEqual(['2', '1']);
    expect(count(html, 'jaxinspect-params-alert-cause')).toBe(1);
    const params = element(html, 'jaxinspect-params-alert', 'data-name', 'params', 'fix:');
    expect(params).toContain('data-testid="jaxinspect-params-alert-cause"');
    expect(text(html, 'jaxinspect-params-alert-cause')).toBe(
      'cause: replaying call 8 of train_step with jax_debug_nans: the first NaN came from log ' +
        'at cell [4] line 6: loss = jnp.log(scale) — equation d:f32[] = log c'
    );
    // the quoted primitive, line and equation are names: never broken, whole in the tooltip
    expect(params).toContain(
      '<code class="jp-JaxInspect-name" title="loss = jnp.log(scale)">loss = jnp.log(scale)</code>'
    );
    expect(params).toContain('<code class="jp-JaxInspect-name" title="log">log</code>');
    // the message is shown without the appended cause, which has its own line
    expect(html.split('Cause:').length - 1).toBe(0);
    expect(text(html, 'jaxinspect-params-alert-message', html.indexOf('data-name="params"'))).toBe(
      q(a.message)
    );
    // the cause comes after the checked line and before the fix
    const at = html.indexOf('data-alert-id="1"');
    const checked = html.indexOf('jaxinspect-params-alert-checked', at);
    const cause = html.indexOf('jaxinspect-params-alert-cause', at);
    expect(checked).toBeGreaterThan(at);
    expect(cause).toBeGreaterThan(checked);
    expect(html.indexOf('fix:', at)).toBeGreaterThan(cause);
    // the badge still says there is an alert
    expect(paramsBadge(model)).toBe('⚠');

    // the same leaf turning NaN again later (after finite steps) is a new alert: both are shown
    model.applyBatch(
      batch(3, [firstAlert({ id: 3, step: 30, last_finite_step: 29, message: 'params: first NaN at step 30' })])
    );
    const again = render(model);
    expect(attrs(again, 'jaxinspect-params-alert', 'data-alert-id')).toEqual(['3', '2', '1']);
    expect(attrs(again, 'jaxinspect-params-alert', 'data-path')).toEqual([
      q("['c']"),
      q("['c']"),
      q("['c']")
    ]);
    expect(count(again, 'jaxinspect-params-alert-cause')).toBe(1);
  });

  it('keeps one entry per alert id for another process too (Processes tab)', () => {
    const a = firstAlert();
    const model = modelWith([processRecord({ id: 1 }), remote(1, a), remote(1, firstAlert({ id: 2 }))]);
    model.applyBatch(batch(2, [remote(1, withCause(a))]));
    const alerts = model.process(1)!.alerts.map(x => x.record as IParamsAlert);
    expect(alerts.map(x => x.id)).toEqual([2, 1]);
    expect(alerts[1].cause).toBe(CAUSE);
    expect(model.process(1)!.alertCount).toBe(2);
  });

  it('lists at most 8 leaves with "N more", and says when every leaf turned at once', () => {
    const leaves = Array.from(
      { length: MAX_ALERT_LEAVES },
      (_, i) => `model.blocks[${i}].attention.query_projection.kernel`
    );
    const html = render(
      modelWith([
        firstAlert({
          path: leaves[0],
          bad_leaves: 40,
          total_leaves: 40,
          leaves_text: 'all 40 leaves non-finite',
          leaves,
          message:
            'params: first NaN at step 41, last finite step 40 (every watched step checked); ' +
            'all 40 of 40 leaves turned at once: the NaN came through the step'
        })
      ])
    );
    expect(text(html, 'jaxinspect-params-alert-leaves-count')).toBe('all 40 leaves non-finite');
    expect(attrs(html, 'jaxinspect-params-alert-leaf', 'title')).toEqual(leaves);
    expect(count(html, 'jaxinspect-params-alert-leaf')).toBe(8);
    expect(text(html, 'jaxinspect-params-alert-leaves-more')).toBe('32 more');
    // each path is one item that never breaks (ellipsis + tooltip in CSS)
    expect(html).toContain(
      `class="jp-JaxInspect-code jp-JaxInspect-paramsAlertLeaf" data-testid="jaxinspect-params-alert-leaf" title="${leaves[0]}">${leaves[0]}</li>`
    );
    // (a single leaf tree that turned reads "1 of 1", not "all": tests/test_derived.py)
  });

  it('says which steps were not checked when the cost cap thinned the checks', () => {
    const checked =
      'steps 12–15 not checked: a check costs 4.1 ms against 3.0 ms between calls, so checks ' +
      'were thinned to stay within 3% of the step time (config.watch_budget)';
    const html = render(modelWith([firstAlert({ step: 16, last_finite_step: 11, checked })]));
    expect(text(html, 'jaxinspect-params-alert-checked')).toBe(checked);
  });

  it('renders an alert from an older kernel (no leaves, checked or cause) as its message', () => {
    const old = firstAlert() as unknown as Record<string, unknown>;
    for (const k of [
      'last_finite_step',
      'bad_leaves',
      'total_leaves',
      'leaves',
      'checked',
      'cause',
      'headline',
      'leaves_text'
    ]) {
      delete old[k];
    }
    const html = render(modelWith([old as unknown as IParamsAlert]));
    expect(count(html, 'jaxinspect-params-alert')).toBe(1);
    expect(text(html, 'jaxinspect-params-alert-message')).toBe(q(firstAlert().message));
    for (const id of ['leaves-count', 'leaf', 'leaves-more', 'checked', 'cause']) {
      expect(html).not.toContain(`jaxinspect-params-alert-${id}"`);
    }
  });

  it('renders leaves and the cause as text only', () => {
    const evil = '<img src=x onerror=alert(1)>';
    const html = render(
      modelWith([firstAlert({ leaves: [evil], cause: `\`${evil}\` and ${evil}`, checked: evil })])
    );
    expect(html).not.toContain('<img');
    expect(text(html, 'jaxinspect-params-alert-leaf')).toBe('&lt;img src=x onerror=alert(1)&gt;');
    expect(text(html, 'jaxinspect-params-alert-checked')).toBe(
      '&lt;img src=x onerror=alert(1)&gt;'
    );
    expect(text(html, 'jaxinspect-params-alert-cause')).toBe(
      'cause: &lt;img src=x onerror=alert(1)&gt; and &lt;img src=x onerror=alert(1)&gt;'
    );
  });
});

describe('Params tab: norms of NaN values', () => {
  it('reads NaN (or inf) for a module whose values are not finite, – when unknown', () => {
    const model = modelWith([
      paramsWatch({
        nonfinite: 2,
        norm: null,
        norm_text: 'NaN',
        // as the kernel writes them (units.human_norm; tests/test_derived.py)
        layers: [
          paramLayer({ path: 'nan', norm: null, nan: 2, norm_text: 'NaN' }),
          paramLayer({ path: 'inf', norm: null, inf: 1, norm_text: 'inf' }),
          paramLayer({ path: 'unknown', norm: null, norm_text: '–' }),
          paramLayer({ path: 'ok', norm: 4.5, norm_text: '4.5' })
        ]
      })
    ]);
    const html = render(model);
    expect(text(html, 'jaxinspect-params-norm')).toBe('NaN');
    const norms = (path: string) =>
      Array.from(
        element(html, 'jaxinspect-params-layer', 'data-path', path).matchAll(
          /<td class="jp-JaxInspect-num[^"]*"[^>]*>([^<]*)</g
        ),
        m => m[1]
      )[1];
    expect(norms('nan')).toBe('NaN');
    expect(norms('inf')).toBe('inf');
    expect(norms('unknown')).toBe('–');
    expect(norms('ok')).toBe('4.5');

    // no NaN and no norm: unknown, not NaN
    const none = render(modelWith([paramsWatch({ norm: null, nonfinite: 0, norm_text: '–' })]));
    expect(text(none, 'jaxinspect-params-norm')).toBe('–');
  });

  it('leaves NaN samples out of the sparklines without breaking them', () => {
    const model = new SessionModel();
    model.applyHello(hello());
    const layer = (norm: number | null) => [paramLayer({ path: 'a', norm, nan: norm === null ? 1 : 0 })];
    const texts = (norm: number | null) => ({ norm_text: norm === null ? 'NaN' : String(norm) });
    model.applyBatch(
      batch(1, [paramsWatch({ seq: 1, time: 10, norm: 1, update: null, layers: layer(2), ...texts(1) })])
    );
    model.applyBatch(
      batch(2, [paramsWatch({ seq: 2, time: 11, norm: 3, update: 0.1, layers: layer(4), ...texts(3) })])
    );
    model.applyBatch(
      batch(3, [
        paramsWatch({
          seq: 3,
          time: 12,
          norm: null,
          nonfinite: 1,
          update: null,
          layers: layer(null),
          ...texts(null)
        })
      ])
    );
    const history = model.paramWatches.get('params')!.history;
    expect(history).toHaveLength(3);
    expect(normSeries(history)).toEqual([
      { t: 10, v: 1 },
      { t: 11, v: 3 }
    ]);
    expect(layerNormSeries(history, 'a')).toEqual([
      { t: 10, v: 2 },
      { t: 11, v: 4 }
    ]);
    const html = render(model);
    expect(count(html, 'jaxinspect-params-norm-sparkline')).toBe(1);
    expect(html).toContain('<span>1 – 3</span>');
    expect(html).not.toMatch(/points="[^"]*NaN/);
    expect(text(html, 'jaxinspect-params-norm')).toBe('NaN');
  });
});
