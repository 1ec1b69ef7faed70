import * as React from 'react';
import { renderToStaticMarkup } from 'react-dom/server';
import { describe, expect, it, vi } from 'vitest';

import { SessionModel } from '../src/model';
import type { AnyRecord } from '../src/protocol';
import { SCHEMA } from '../src/protocol';
import { createDefaultTabs } from '../src/views/builtin';
import {
  KEYS_CONTEXT,
  KEYS_MAGIC,
  Keys,
  MAX_REUSE_ROWS,
  NOT_CONNECTED_TEXT,
  indentPx,
  keysBadge,
  moreKeysText
} from '../src/views/Keys';
import type { IPanelActions } from '../src/views/tabs';
import { batch, hello, keyCount, keyNode, keyReuse, keysRecord } from './fixtures';
import { attrs, byTestId, count, element, findAll, text } from './html';

const noActions: IPanelActions = { loadExtension: () => undefined, reconnect: () => undefined };

function withTrack(trackKeys = vi.fn()): IPanelActions & { trackKeys: typeof trackKeys } {
  return { ...noActions, trackKeys };
}

function modelWith(records: AnyRecord[]): SessionModel {
  const model = new SessionModel();
  model.applyHello(hello());
  model.applyBatch(batch(1, records));
  return model;
}

function render(model: SessionModel | null, actions: IPanelActions = withTrack()): string {
  return renderToStaticMarkup(<Keys model={model} now={0} actions={actions} />);
}

function click(model: SessionModel, actions: IPanelActions, testid: string): void {
  const els = findAll(<Keys model={model} now={0} actions={actions} />, byTestId(testid));
  expect(els).toHaveLength(1);
  expect(els[0].type).toBe('button');
  els[0].props.onClick();
}

const EVIL = '<img src=x onerror=alert(1)>';
const EVIL_TEXT = '&lt;img src=x onerror=alert(1)&gt;';

describe('Keys tab', () => {
  it('asks for a notebook and points to Overview when not connected', () => {
    expect(render(null)).toContain('Open a notebook to inspect its kernel');
    const model = new SessionModel();
    model.setState('not-loaded');
    const html = render(model);
    expect(html).toContain(NOT_CONNECTED_TEXT);
    expect(html).not.toContain('jaxinspect-keys-off');
    expect(html).not.toContain('jaxinspect-keys-track-button');
  });

  it('explains how to turn tracking on and turns it on with the button', () => {
    const model = modelWith([]);
    const trackKeys = vi.fn();
    const actions = withTrack(trackKeys);
    const html = render(model, actions);
    expect(KEYS_MAGIC).toBe('%jaxinspect keys on');
    expect(KEYS_CONTEXT).toBe('with jaxinspect.track_keys():');
    expect(text(html, 'jaxinspect-keys-off')).toBe(
      'Key tracking is off. Run %jaxinspect keys on or wrap the code in ' +
        'with jaxinspect.track_keys(): to see the PRNG key lineage and catch reused keys.'
    );
    expect(html).toContain('<code>%jaxinspect keys on</code>');
    expect(text(html, 'jaxinspect-keys-track-button')).toBe('Track keys');
    expect(html).not.toContain('jaxinspect-keys-summary');
    expect(html).not.toContain('jaxinspect-keys-node');
    click(model, actions, 'jaxinspect-keys-track-button');
    expect(trackKeys).toHaveBeenCalledTimes(1);
    expect(trackKeys).toHaveBeenCalledWith(true, model);

    // without the action there is no button, but the hint stays
    const bare = render(model, noActions);
    expect(bare).toContain('jaxinspect-keys-off');
    expect(bare).not.toContain('jaxinspect-keys-track-button');

    // a record that says tracking is off and holds nothing: still the off hint
    const off = render(modelWith([keysRecord({ tracking: false, nodes: [], consumers: [] })]));
    expect(off).toContain('jaxinspect-keys-off');
    expect(off).not.toContain('jaxinspect-keys-summary');
  });

  it('logs a failing trackKeys instead of throwing', async () => {
    const warn = vi.spyOn(console, 'warn').mockImplementation(() => undefined);
    try {
      const model = modelWith([]);
      const rejecting = withTrack(vi.fn(() => Promise.reject(new Error('old kernel'))));
      click(model, rejecting, 'jaxinspect-keys-track-button');
      const throwing = withTrack(
        vi.fn(() => {
          throw new Error('sync');
        })
      );
      expect(() => click(model, throwing, 'jaxinspect-keys-track-button')).not.toThrow();
      await new Promise(resolve => setTimeout(resolve, 0));
      expect(warn).toHaveBeenCalledTimes(2);
    } finally {
      warn.mockRestore();
    }
  });

  it('shows the summary counters and a stop button while tracking', () => {
    const model = modelWith([
      keysRecord({ created: 2, derived: 17, consumed: 9, reuses: 0, on_reuse: 'error' })
    ]);
    const trackKeys = vi.fn();
    const actions = withTrack(trackKeys);
    const html = render(model, actions);
    expect(attrs(html, 'jaxinspect-keys-summary', 'data-tracking')).toEqual(['on']);
    expect(text(html, 'jaxinspect-keys-created')).toBe('2');
    expect(text(html, 'jaxinspect-keys-derived')).toBe('17');
    expect(text(html, 'jaxinspect-keys-consumed')).toBe('9');
    expect(text(html, 'jaxinspect-keys-reuses')).toBe('0');
    expect(text(html, 'jaxinspect-keys-on-reuse')).toBe('error');
    expect(text(html, 'jaxinspect-keys-summary')).toContain('tracking on');
    expect(text(html, 'jaxinspect-keys-summary')).toContain(
      '2 created · 17 derived · 9 consumed · 0 reuses'
    );
    expect(html).not.toContain('jaxinspect-keys-off');
    expect(html).not.toContain('jaxinspect-keys-track-button');
    expect(text(html, 'jaxinspect-keys-stop-button')).toBe('Stop tracking');
    click(model, actions, 'jaxinspect-keys-stop-button');
    expect(trackKeys).toHaveBeenCalledWith(false, model);
    expect(html).not.toContain('jaxinspect-keys-note');
    expect(render(model, noActions)).not.toContain('jaxinspect-keys-stop-button');

    // stopped, but the tree is still there: summary off, with a track button
    const stopped = modelWith([keysRecord({ tracking: false, reuses: 3 })]);
    const off = render(stopped, actions);
    expect(attrs(off, 'jaxinspect-keys-summary', 'data-tracking')).toEqual(['off']);
    expect(text(off, 'jaxinspect-keys-summary')).toContain('tracking off');
    expect(text(off, 'jaxinspect-keys-reuses')).toBe('3');
    expect(off).toMatch(/class="jp-JaxInspect-errorText" data-testid="jaxinspect-keys-reuses"/);
    expect(off).not.toContain('jaxinspect-keys-stop-button');
    expect(off).not.toContain('jaxinspect-keys-off');
    trackKeys.mockClear();
    click(stopped, actions, 'jaxinspect-keys-track-button');
    expect(trackKeys).toHaveBeenCalledWith(true, stopped);
  });

  it('shows the note', () => {
    const html = render(modelWith([keysRecord({ note: 'jax.random is not imported yet' })]));
    expect(text(html, 'jaxinspect-keys-note')).toBe('jax.random is not imported yet');
    // also under the off hint
    const off = render(
      modelWith([keysRecord({ tracking: false, nodes: [], note: 'tracking stopped' })])
    );
    expect(off).toContain('jaxinspect-keys-off');
    expect(text(off, 'jaxinspect-keys-note')).toBe('tracking stopped');
  });

  it('draws the lineage tree in order, indented by depth, with states and uses', () => {
    const model = modelWith([
      keysRecord({
        nodes: [
          keyNode(),
          keyNode({
            id: 2,
            depth: 1,
            op: 'split',
            label: 'split[0] of #1',
            state: 'consumed',
            uses: 4,
            used_by: ['normal @ cell 3, line 5', 'uniform @ cell 3, line 6']
          }),
          keyNode({ id: 3, depth: 2, op: 'fold_in', label: 'fold_in(7) of #2', state: 'reused', site: null }),
          keyNode({ id: 4, depth: 45, op: 'rngs.dropout', label: 'deep', state: 'fresh', folded: 12 })
        ]
      })
    ]);
    const html = render(model);
    expect(attrs(html, 'jaxinspect-keys-node', 'data-id')).toEqual(['1', '2', '3', '4']);
    expect(attrs(html, 'jaxinspect-keys-node', 'data-state')).toEqual([
      'split',
      'consumed',
      'reused',
      'fresh'
    ]);
    expect(attrs(html, 'jaxinspect-keys-node', 'data-op')).toEqual([
      'key',
      'split',
      'fold_in',
      'rngs.dropout'
    ]);
    // the sidebar (narrow): 10 px a level, at most 8 levels; the main-area view: 12 px, 30
    expect(attrs(html, 'jaxinspect-keys-node', 'style')).toEqual([
      'padding-left:0',
      'padding-left:10px',
      'padding-left:20px',
      'padding-left:80px'
    ]);
    const wide = renderToStaticMarkup(<Keys model={model} now={0} actions={withTrack()} wide />);
    expect(attrs(wide, 'jaxinspect-keys-node', 'style')).toEqual([
      'padding-left:0',
      'padding-left:12px',
      'padding-left:24px',
      'padding-left:360px'
    ]);
    expect(indentPx(45)).toBe(360);
    expect(indentPx(45, true)).toBe(80);
    expect(indentPx(-1)).toBe(0);

    const root = element(html, 'jaxinspect-keys-node', 'data-id', '1', '</div>');
    expect(root).toContain('>key(0)</span>');
    expect(root).toContain('>cell 3, line 2</span>');
    expect(root).not.toContain('jaxinspect-keys-used-by');
    expect(root).not.toContain('hidden');

    const consumed = element(html, 'jaxinspect-keys-node', 'data-id', '2', '</div>');
    expect(consumed).toContain('>split[0] of #1</span>');
    expect(consumed).toContain(
      '>→ normal @ cell 3, line 5, uniform @ cell 3, line 6 +2 more</span>'
    );
    expect(consumed).toMatch(
      /class="jp-JaxInspect-keysState jp-JaxInspect-keysState-consumed" data-testid="jaxinspect-keys-state">consumed</
    );

    const reused = element(html, 'jaxinspect-keys-node', 'data-id', '3', '</div>');
    expect(reused).toContain('jp-JaxInspect-keysNodeReused');
    expect(reused).toMatch(
      /class="jp-JaxInspect-keysState jp-JaxInspect-keysState-reused" data-testid="jaxinspect-keys-state">reused</
    );
    expect(reused).not.toContain('jaxinspect-keys-site');

    const deep = element(html, 'jaxinspect-keys-node', 'data-id', '4', '</div>');
    expect(deep).toContain('jp-JaxInspect-keysState-fresh');
    expect(deep).toContain('>+12 hidden</span>');

    expect(html).not.toContain('jaxinspect-keys-more');
    expect(html).not.toContain('jaxinspect-keys-empty');
  });

  it('says when tracking is on but no key was made yet', () => {
    const html = render(modelWith([keysRecord({ nodes: [], consumers: [] })]));
    expect(text(html, 'jaxinspect-keys-empty')).toBe('No keys made yet.');
    expect(html).not.toContain('jaxinspect-keys-consumer');
  });

  it('marks rows not sent and keys summarised', () => {
    const html = render(modelWith([keysRecord({ more_nodes: 120, summarised: 5000 })]));
    expect(text(html, 'jaxinspect-keys-more')).toBe(
      '120 more keys not shown · 5,000 older keys summarised'
    );
    // the marker comes after the rows
    expect(html.indexOf('jaxinspect-keys-more')).toBeGreaterThan(
      html.lastIndexOf('jaxinspect-keys-node"')
    );
    expect(text(render(modelWith([keysRecord({ more_nodes: 1 })])), 'jaxinspect-keys-more')).toBe(
      '1 more key not shown'
    );
    expect(
      text(render(modelWith([keysRecord({ summarised: 2 })])), 'jaxinspect-keys-more')
    ).toBe('2 older keys summarised');
    expect(moreKeysText(0, 0)).toBe('');
  });

  it('lists the sampler uses by op and site', () => {
    const html = render(
      modelWith([
        keysRecord({
          consumers: [keyCount(), keyCount({ name: 'bernoulli', site: null, count: 12 })]
        })
      ])
    );
    expect(attrs(html, 'jaxinspect-keys-consumer', 'data-name')).toEqual(['normal', 'bernoulli']);
    const normal = element(html, 'jaxinspect-keys-consumer', 'data-name', 'normal');
    expect(Array.from(normal.matchAll(/<td[^>]*>([^<]*)</g), m => m[1])).toEqual([
      'normal',
      'cell 3, line 5',
      '4'
    ]);
    const bern = element(html, 'jaxinspect-keys-consumer', 'data-name', 'bernoulli');
    expect(Array.from(bern.matchAll(/<td[^>]*>([^<]*)</g), m => m[1])).toEqual([
      'bernoulli',
      '–',
      '12'
    ]);
  });

  it('shows reuses newest first with both uses, the lineage path, the count and the fix', () => {
    const model = modelWith([
      keysRecord({ reuses: 2 }),
      keyReuse({ id: 1 }),
      keyReuse({
        id: 2,
        where: 'jit',
        reuse: 'consumed then split',
        key: 'k',
        function: 'train_step',
        first_op: 'normal',
        first_site: null,
        second_op: 'split',
        second_site: 'cell 4, line 9',
        first_use: 'normal',
        second_use: 'split @ cell 4, line 9',
        path: ['key(0)', 'split[1] of #1', 'k'],
        count: 3,
        message: 'k was consumed then split inside train_step',
        hint: 'use a fresh subkey for each sampler'
      })
    ]);
    const html = render(model);
    expect(attrs(html, 'jaxinspect-keys-reuse', 'data-key')).toEqual(['k', 'split[0] of #1']);
    expect(attrs(html, 'jaxinspect-keys-reuse', 'data-where')).toEqual(['jit', 'eager']);
    expect(attrs(html, 'jaxinspect-keys-reuse', 'data-reuse')).toEqual([
      'consumed then split',
      'consumed twice'
    ]);
    expect(html).toMatch(
      /class="jp-JaxInspect-alert jp-JaxInspect-alert-error" data-testid="jaxinspect-keys-reuse"/
    );
    const jit = element(html, 'jaxinspect-keys-reuse', 'data-key', 'k', 'fix:');
    expect(jit).toContain('k was consumed then split inside train_step');
    expect(text(jit, 'jaxinspect-keys-reuse-first')).toBe('normal');
    expect(text(jit, 'jaxinspect-keys-reuse-second')).toBe('split @ cell 4, line 9');
    expect(text(jit, 'jaxinspect-keys-reuse-path')).toBe('key(0) → split[1] of #1 → k');
    expect(text(jit, 'jaxinspect-keys-reuse-count')).toBe('×3');
    expect(text(jit, 'jaxinspect-keys-reuse-function')).toBe('train_step');
    expect(html).toContain('fix: use a fresh subkey for each sampler');

    const eager = element(html, 'jaxinspect-keys-reuse', 'data-key', 'split[0] of #1', 'fix:');
    expect(text(eager, 'jaxinspect-keys-reuse-first')).toBe('normal @ cell 3, line 5');
    expect(text(eager, 'jaxinspect-keys-reuse-second')).toBe('uniform @ cell 3, line 6');
    expect(eager).not.toContain('jaxinspect-keys-reuse-count');
    expect(eager).not.toContain('jaxinspect-keys-reuse-function');
    expect(html).toContain('fix: split the key first: key, sub = jax.random.split(key)');
    // (a use without a site reads as the op alone: the kernel's rule, tests/test_derived.py)

    // reuses sit between the summary and the tree
    expect(html.indexOf('jaxinspect-keys-summary')).toBeLessThan(
      html.indexOf('jaxinspect-keys-reuse')
    );
    expect(html.indexOf('jaxinspect-keys-reuse')).toBeLessThan(html.indexOf('jaxinspect-keys-node'));
  });

  it('updates a re-sent reuse in place instead of adding another', () => {
    const model = modelWith([
      keysRecord(),
      keyReuse({ id: 1, key: 'a' }),
      keyReuse({ id: 2, key: 'b' })
    ]);
    expect(count(render(model), 'jaxinspect-keys-reuse')).toBe(2);
    model.applyBatch(batch(2, [keyReuse({ id: 1, key: 'a', count: 4 })]));
    const html = render(model);
    expect(count(html, 'jaxinspect-keys-reuse')).toBe(2);
    expect(attrs(html, 'jaxinspect-keys-reuse', 'data-key')).toEqual(['b', 'a']);
    const a = element(html, 'jaxinspect-keys-reuse', 'data-key', 'a', 'fix:');
    expect(text(a, 'jaxinspect-keys-reuse-count')).toBe('×4');
    expect(count(html, 'jaxinspect-keys-reuse-count')).toBe(1);
  });

  it('shows reuses even before any keys snapshot, next to the off hint', () => {
    const html = render(modelWith([keyReuse()]));
    expect(html).toContain('jaxinspect-keys-off');
    expect(count(html, 'jaxinspect-keys-reuse')).toBe(1);
  });

  it('bounds the reuses with a "more" marker', () => {
    const reuses = Array.from({ length: MAX_REUSE_ROWS + 5 }, (_, i) =>
      keyReuse({ id: i + 1, key: `k${i + 1}` })
    );
    const html = render(modelWith([keysRecord(), ...reuses]));
    const shown = attrs(html, 'jaxinspect-keys-reuse', 'data-key');
    expect(MAX_REUSE_ROWS).toBe(20);
    expect(shown).toHaveLength(20);
    expect(shown[0]).toBe(`k${MAX_REUSE_ROWS + 5}`);
    expect(text(html, 'jaxinspect-keys-reuse-more')).toBe('5 more');
  });

  it('escapes kernel strings', () => {
    const model = modelWith([
      keysRecord({
        on_reuse: EVIL,
        note: EVIL,
        nodes: [
          keyNode({ label: EVIL, site: EVIL, op: EVIL, state: EVIL, uses: 1, used_by: [EVIL] })
        ],
        consumers: [keyCount({ name: EVIL, site: EVIL })]
      }),
      keyReuse({
        key: EVIL,
        where: EVIL,
        reuse: EVIL,
        function: EVIL,
        first_op: EVIL,
        first_site: EVIL,
        second_op: EVIL,
        second_site: EVIL,
        first_use: `${EVIL} @ ${EVIL}`,
        second_use: `${EVIL} @ ${EVIL}`,
        path: [EVIL, EVIL],
        message: EVIL,
        hint: EVIL
      })
    ]);
    const html = render(model);
    expect(html).not.toContain('<img');
    expect(html).toContain(EVIL_TEXT);
    expect(text(html, 'jaxinspect-keys-label')).toBe(EVIL_TEXT);
    expect(text(html, 'jaxinspect-keys-site')).toBe(EVIL_TEXT);
    expect(text(html, 'jaxinspect-keys-state')).toBe(EVIL_TEXT);
    expect(text(html, 'jaxinspect-keys-used-by')).toBe(`→ ${EVIL_TEXT}`);
    expect(text(html, 'jaxinspect-keys-note')).toBe(EVIL_TEXT);
    expect(text(html, 'jaxinspect-keys-on-reuse')).toBe(EVIL_TEXT);
    expect(text(html, 'jaxinspect-keys-reuse-first')).toBe(`${EVIL_TEXT} @ ${EVIL_TEXT}`);
    expect(text(html, 'jaxinspect-keys-reuse-path')).toBe(`${EVIL_TEXT} → ${EVIL_TEXT}`);
    expect(text(html, 'jaxinspect-keys-reuse-function')).toBe(EVIL_TEXT);
    expect(html).toContain(`fix: ${EVIL_TEXT}`);
    for (const [testid, attr] of [
      ['jaxinspect-keys-node', 'data-op'],
      ['jaxinspect-keys-node', 'data-state'],
      ['jaxinspect-keys-reuse', 'data-key'],
      ['jaxinspect-keys-reuse', 'data-where'],
      ['jaxinspect-keys-reuse', 'data-reuse'],
      ['jaxinspect-keys-consumer', 'data-name']
    ]) {
      expect(attrs(html, testid, attr)).toEqual([EVIL_TEXT]);
    }
    // an unknown state gets the neutral class, never the kernel's string as a class
    expect(html).toMatch(
      /class="jp-JaxInspect-keysState jp-JaxInspect-keysState-split" data-testid="jaxinspect-keys-state"/
    );
  });

  it('badges the reuses, else "on" while tracking, and is registered after Params', () => {
    expect(keysBadge(null)).toBeNull();
    expect(keysBadge(modelWith([]))).toBeNull();
    expect(keysBadge(modelWith([keysRecord({ tracking: false })]))).toBeNull();
    expect(keysBadge(modelWith([keysRecord()]))).toBe('on');
    expect(keysBadge(modelWith([keysRecord(), keyReuse({ id: 1 }), keyReuse({ id: 2 })]))).toBe(
      '2'
    );
    // a re-sent reuse does not count twice
    expect(keysBadge(modelWith([keyReuse({ id: 1 }), keyReuse({ id: 1, count: 2 })]))).toBe('1');
    const tabs = createDefaultTabs().tabs;
    expect(tabs.map(t => t.id)).toEqual([
      'overview',
      'compiles',
      'buffers',
      'params',
      'keys',
      'processes'
    ]);
    expect(tabs[4].label).toBe('Keys');
    expect(tabs[4].rank).toBe(40);
    expect(tabs[4].component).toBe(Keys);
    expect(tabs[4].badge).toBe(keysBadge);
  });

  it('uses fixtures that carry exactly the fields the schema names', () => {
    expect(SCHEMA.methods).toContain('track_keys');
    expect(Object.keys(keysRecord()).sort()).toEqual(Object.keys(SCHEMA.records.keys).sort());
    expect(Object.keys(keyNode()).sort()).toEqual(Object.keys(SCHEMA.records.KeyNode).sort());
    expect(Object.keys(keyCount()).sort()).toEqual(Object.keys(SCHEMA.records.KeyCount).sort());
    expect(Object.keys(keyReuse()).sort()).toEqual(Object.keys(SCHEMA.records.key_reuse).sort());
    expect(SCHEMA.records.keys.nodes).toBe('list[KeyNode]');
    expect(SCHEMA.records.keys.consumers).toBe('list[KeyCount]');
  });
});
