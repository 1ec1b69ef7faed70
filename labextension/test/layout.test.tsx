/**
 * The panel's layout: the tab strip (WAI-ARIA tabs: roles, aria-selected / aria-controls /
 * aria-label with the count, roving tabindex, ArrowLeft / ArrowRight / Home / End), the narrow
 * sidebar (cards: every table cell a card shows is its name or a labelled value; one card per
 * process) and the wide main-area view (full tables), and the "Open in main area" button.
 * The real layout at 250 and 400 px is checked in a browser by tests/browser/test_layout.py.
 */

import * as React from 'react';
import { renderToStaticMarkup } from 'react-dom/server';
import { describe, expect, it, vi } from 'vitest';

import { SessionModel } from '../src/model';
import type { AnyRecord } from '../src/protocol';
import { createDefaultTabs, paramsBadgeLabel, processesBadgeLabel } from '../src/views/builtin';
import { PanelView } from '../src/views/panelview';
import type { IPanelActions } from '../src/views/tabs';
import { TabStrip, compactBadge, tabKeyTarget, tabTitle } from '../src/views/tabstrip';
import {
  batch,
  bufferGroup,
  buffersRecord,
  compileEvent,
  compileStats,
  deviceMemory,
  functionRow,
  hello,
  keyCount,
  keysRecord,
  paramLayer,
  paramsWatch,
  processFacts,
  processRecord,
  processesRecord
} from './fixtures';
import { byTestId, count, findAll } from './html';

const NOW = 1700000115_000;

const noActions: IPanelActions = { loadExtension: () => undefined, reconnect: () => undefined };

/** A model holding something for every tab, with the long names of the issue. */
function fullModel(): SessionModel {
  const model = new SessionModel({ name: 'training.ipynb', now: () => NOW });
  model.applyHello(hello());
  const records: AnyRecord[] = [
    compileStats({ fun_key: 'k:train_step', fun_name: 'train_step', compiles: 3 }),
    compileStats({ fun_key: 'k:tbc', fun_name: 'tree_bias_correction', compiles: 1 }),
    compileEvent({ id: 1, fun_name: 'train_step' }),
    buffersRecord({
      arrays: 1234,
      devices: [deviceMemory({ device: 'cpu:0' })],
      owners: [bufferGroup({ name: 'optimizer.opt_state', example: 'f32[1797,8,8,1]' })],
      sites: [bufferGroup({ name: 'cell [2] line 6', example: 'f32[1797,8,8,1]' })]
    }),
    paramsWatch({
      name: 'params',
      layers: [paramLayer({ path: "['conv1']" }), paramLayer({ path: "['tree_bias_correction']" })]
    }),
    keysRecord({ consumers: [keyCount({ name: 'normal', site: 'cell [2] line 33', count: 4 })] }),
    processRecord({ id: 1, process_index: 0 }),
    processRecord({ id: 2, process_index: 1, host: 'host-b' }),
    processesRecord({
      processes: [processFacts({ id: 1 }), processFacts({ id: 2, process_index: 1 })],
      functions: [functionRow({ name: 'train_step' })]
    })
  ];
  model.applyBatch(batch(1, records));
  return model;
}

/** What the panel shows for these options and this selected tab. */
function panelMarkup(opts: {
  model: SessionModel | null;
  selected: string;
  wide?: boolean;
  main?: boolean;
  actions?: IPanelActions;
}): { html: string; tree: React.ReactElement<any> } {
  const tree = (
    <PanelView
      tabs={createDefaultTabs()}
      model={opts.model}
      selected={opts.selected}
      main={opts.main ?? !!opts.wide}
      wide={!!opts.wide}
      actions={opts.actions ?? noActions}
      idPrefix="jaxinspect-t"
      visible={true}
      now={NOW}
      onSelect={() => undefined}
    />
  );
  return { html: renderToStaticMarkup(tree), tree };
}

/** The host elements (div, button, …) of a tree, without rendering the components in it. */
function hostElements(node: React.ReactNode, out: React.ReactElement<any>[] = []): React.ReactElement<any>[] {
  if (Array.isArray(node)) {
    node.forEach(n => hostElements(n, out));
  } else if (React.isValidElement(node)) {
    const el = node as React.ReactElement<any>;
    if (el.type === PanelView) {
      hostElements(PanelView(el.props), out);
    } else if (typeof el.type === 'string') {
      out.push(el);
      hostElements(el.props.children, out);
    }
  }
  return out;
}

/** The `<td>`s of the body rows of every table laid out as cards in `html`. */
function cardCells(html: string): string[] {
  const cells: string[] = [];
  for (const table of html.matchAll(/<table class="[^"]*jp-JaxInspect-cards[^"]*"[\s\S]*?<\/table>/g)) {
    const body = table[0].slice(table[0].indexOf('<tbody>'));
    for (const row of body.matchAll(/<tr(?![^>]*jp-JaxInspect-(?:more|cardNote))[^>]*>([\s\S]*?)<\/tr>/g)) {
      cells.push(...Array.from(row[1].matchAll(/<td[^>]*>[\s\S]*?<\/td>/g), m => m[0]));
    }
  }
  return cells;
}

describe('the tab strip', () => {
  it('moves with ArrowLeft / ArrowRight (wrapping), Home and End, and ignores other keys', () => {
    expect(tabKeyTarget('ArrowRight', 0, 6)).toBe(1);
    expect(tabKeyTarget('ArrowRight', 5, 6)).toBe(0);
    expect(tabKeyTarget('ArrowLeft', 0, 6)).toBe(5);
    expect(tabKeyTarget('ArrowLeft', 3, 6)).toBe(2);
    expect(tabKeyTarget('Home', 4, 6)).toBe(0);
    expect(tabKeyTarget('End', 1, 6)).toBe(5);
    expect(tabKeyTarget('Enter', 1, 6)).toBeNull();
    expect(tabKeyTarget('ArrowDown', 1, 6)).toBeNull();
    expect(tabKeyTarget('ArrowRight', 0, 0)).toBeNull();
  });

  it('is a tablist of tabs: one selected, one tab stop, each labelled with its count', () => {
    const model = fullModel();
    const tabs = createDefaultTabs().tabs;
    const html = renderToStaticMarkup(
      <TabStrip tabs={tabs} selected="buffers" model={model} idPrefix="p1" onSelect={() => undefined} />
    );
    expect(html).toMatch(/^<div class="jp-JaxInspect-tabbar" role="tablist" aria-label="jaxinspect views"/);
    expect(count(html, 'jaxinspect-tab-buffers')).toBe(1);
    const buttons = Array.from(html.matchAll(/<button [^>]*>/g), m => m[0]);
    expect(buttons).toHaveLength(6);
    for (const b of buttons) {
      expect(b).toContain('role="tab"');
      expect(b).toContain('aria-controls="p1-tabpanel"');
    }
    const selected = buttons.filter(b => b.includes('aria-selected="true"'));
    expect(selected).toHaveLength(1);
    expect(selected[0]).toContain('id="p1-tab-buffers"');
    expect(selected[0]).toContain('tabindex="0"');
    expect(buttons.filter(b => b.includes('tabindex="-1"'))).toHaveLength(5);
    // each tab's accessible name and tooltip carry its full label and what its count counts
    expect(buttons.find(b => b.includes('p1-tab-compiles'))).toContain(
      'aria-label="Compiles: 4 compiles" title="Compiles: 4 compiles"'
    );
    expect(buttons.find(b => b.includes('p1-tab-buffers'))).toContain(
      'aria-label="Buffers: 1234 live arrays"'
    );
    expect(buttons.find(b => b.includes('p1-tab-processes'))).toContain(
      'aria-label="Processes: 2 processes"'
    );
    expect(buttons.find(b => b.includes('p1-tab-overview'))).toContain('aria-label="Overview"');
    // the strip shows the count short; the badge keeps the exact one
    expect(html).toContain('data-badge="1234">1.2k</span>');
    // an icon per tab, hidden from screen readers (the aria-label says it all)
    expect(html.split('class="jp-JaxInspect-tabIcon"').length - 1).toBe(6);
    expect(html.match(/<svg[^>]*>/g)!.every(s => s.includes('aria-hidden="true"'))).toBe(true);
  });

  it('selects and focuses the tab a key moves to', () => {
    const tabs = createDefaultTabs().tabs;
    const cases: [string, string, string][] = [
      ['compiles', 'ArrowRight', 'buffers'],
      ['compiles', 'ArrowLeft', 'overview'],
      ['overview', 'ArrowLeft', 'processes'],
      ['processes', 'ArrowRight', 'overview'],
      ['keys', 'Home', 'overview'],
      ['overview', 'End', 'processes']
    ];
    for (const [from, key, to] of cases) {
      const onSelect = vi.fn();
      const strip = (
        <TabStrip tabs={tabs} selected={from} model={null} idPrefix="p2" onSelect={onSelect} />
      );
      const [list] = findAll(strip, el => el.props.role === 'tablist');
      const focus = vi.fn();
      const querySelector = vi.fn(() => ({ focus }));
      const preventDefault = vi.fn();
      list.props.onKeyDown({ key, preventDefault, currentTarget: { querySelector } });
      expect(onSelect, `${from} ${key}`).toHaveBeenCalledWith(to);
      expect(querySelector).toHaveBeenCalledWith(`#p2-tab-${to}`);
      expect(focus).toHaveBeenCalledTimes(1);
      expect(preventDefault).toHaveBeenCalledTimes(1);
    }
    // other keys are left alone (Tab leaves the strip; Enter on a tab is its click)
    const onSelect = vi.fn();
    const strip = <TabStrip tabs={tabs} selected="keys" model={null} idPrefix="p2" onSelect={onSelect} />;
    const [list] = findAll(strip, el => el.props.role === 'tablist');
    const preventDefault = vi.fn();
    list.props.onKeyDown({ key: 'Tab', preventDefault, currentTarget: { querySelector: vi.fn() } });
    expect(onSelect).not.toHaveBeenCalled();
    expect(preventDefault).not.toHaveBeenCalled();
    // a click selects
    const [params] = findAll(strip, byTestId('jaxinspect-tab-params'));
    params.props.onClick();
    expect(onSelect).toHaveBeenCalledWith('params');
  });

  it('shortens big counts and says what each badge means', () => {
    expect(compactBadge('999')).toBe('999');
    expect(compactBadge('1234')).toBe('1.2k');
    expect(compactBadge('1,999')).toBe('2k');
    expect(compactBadge('56789')).toBe('57k');
    expect(compactBadge('2300000')).toBe('2.3M');
    expect(compactBadge('2 ⚠')).toBe('2');
    expect(compactBadge('⚠')).toBe('!');
    expect(compactBadge('3 ≠')).toBe('3');
    expect(compactBadge('1234 ⚠')).toBe('1.2k');
    expect(compactBadge('on')).toBe('on');
    expect(paramsBadgeLabel('2 ⚠')).toBe('2 watched, a NaN/Inf alert');
    expect(paramsBadgeLabel('⚠')).toBe('a NaN/Inf alert');
    expect(paramsBadgeLabel('1')).toBe('1 watched');
    expect(processesBadgeLabel('3 ≠')).toBe('3 processes, compile counts differ');
    expect(processesBadgeLabel('1')).toBe('1 process');
    const keys = createDefaultTabs().get('keys')!;
    expect(tabTitle(keys, 'on')).toBe('Keys: tracking on');
    expect(tabTitle(keys, '1')).toBe('Keys: 1 key reuse');
    expect(tabTitle(keys, null)).toBe('Keys');
  });
});

describe('the panel', () => {
  it('in the sidebar: narrow, a tabpanel named by its tab, the tab title, an Open in main area button', () => {
    const openInMainArea = vi.fn();
    const { html, tree } = panelMarkup({
      model: fullModel(),
      selected: 'compiles',
      actions: { ...noActions, openInMainArea }
    });
    expect(html).toMatch(/^<div class="jp-JaxInspect-root jp-JaxInspect-narrow" data-layout="narrow" data-view="sidebar">/);
    expect(html).toContain(
      'role="tabpanel" id="jaxinspect-t-tabpanel" aria-labelledby="jaxinspect-t-tab-compiles" tabindex="0"'
    );
    expect(html).toContain('data-testid="jaxinspect-tab-title">Compiles: 4 compiles</h2>');
    expect(count(html, 'jaxinspect-open-main')).toBe(1);
    const [button] = hostElements(tree).filter(byTestId('jaxinspect-open-main'));
    expect(button.props['aria-label']).toBe('Open in main area');
    button.props.onClick();
    expect(openInMainArea).toHaveBeenCalledTimes(1);
    // without the action there is no button
    expect(panelMarkup({ model: fullModel(), selected: 'compiles' }).html).not.toContain(
      'jaxinspect-open-main'
    );
  });

  it('in the main area: wide, no Open in main area button, the tabs get `wide`', () => {
    const { html } = panelMarkup({
      model: fullModel(),
      selected: 'processes',
      wide: true,
      actions: { ...noActions, openInMainArea: () => undefined }
    });
    expect(html).toMatch(/^<div class="jp-JaxInspect-root jp-JaxInspect-wide" data-layout="wide" data-view="main">/);
    expect(html).not.toContain('jaxinspect-open-main');
    // the side-by-side table: one column per process
    expect(html).toContain('<table class="jp-JaxInspect-table jp-JaxInspect-processesTable"');
    expect(count(html, 'jaxinspect-processes-row')).toBeGreaterThan(5);
    expect(count(html, 'jaxinspect-processes-field')).toBe(0);
    // a main-area view without the room for tables (split beside a notebook on a small screen)
    // shows the cards, still without the button
    const cramped = panelMarkup({
      model: fullModel(),
      selected: 'processes',
      main: true,
      actions: { ...noActions, openInMainArea: () => undefined }
    }).html;
    expect(cramped).toMatch(/^<div class="jp-JaxInspect-root jp-JaxInspect-narrow" data-layout="narrow" data-view="main">/);
    expect(cramped).not.toContain('jaxinspect-open-main');
    expect(count(cramped, 'jaxinspect-processes-field')).toBeGreaterThan(5);
  });

  it('narrow Processes: a card per process with the same facts, no side-by-side table', () => {
    const wide = panelMarkup({ model: fullModel(), selected: 'processes', wide: true }).html;
    const { html } = panelMarkup({ model: fullModel(), selected: 'processes' });
    expect(html).not.toContain('jp-JaxInspect-processesTable');
    expect(count(html, 'jaxinspect-processes-row')).toBe(0);
    // the same testids a user's test finds the processes by
    expect(count(html, 'jaxinspect-processes-col-1')).toBe(1);
    expect(count(html, 'jaxinspect-processes-col-2')).toBe(1);
    expect(html).toContain('data-testid="jaxinspect-processes-table"');
    // every row of the wide table is a label / value pair of each card
    const rows = Array.from(wide.matchAll(/data-testid="jaxinspect-processes-row" data-row="([^"]+)"/g), m => m[1]);
    const fields = Array.from(html.matchAll(/data-testid="jaxinspect-processes-field" data-row="([^"]+)"/g), m => m[1]);
    expect(fields).toEqual([...rows, ...rows]);
    expect(html).toMatch(/<dt>compiles<\/dt><dd class="jp-JaxInspect-processCell">0<\/dd>/);
  });

  it('narrow: every cell a card shows is its name (with its whole text on hover) or a labelled value', () => {
    for (const tab of ['compiles', 'buffers', 'params', 'keys', 'processes']) {
      const { html } = panelMarkup({ model: fullModel(), selected: tab });
      const cells = cardCells(html);
      expect(cells.length, tab).toBeGreaterThan(2);
      for (const td of cells) {
        const open = td.slice(0, td.indexOf('>') + 1);
        const name = open.includes('jp-JaxInspect-cardName');
        expect(name || /data-label="[^"]+"/.test(open), `${tab}: ${td}`).toBe(true);
      }
      const names = cells.filter(td => td.slice(0, td.indexOf('>')).includes('jp-JaxInspect-cardName'));
      expect(names.length, tab).toBeGreaterThan(0);
      for (const td of names) {
        // the name's whole text is the title of the cell or of the element in it that holds it
        const m = /title="([^"]+)">([^<]+)</.exec(td);
        expect(m, `${tab}: ${td}`).not.toBeNull();
        expect(m![1], tab).toContain(m![2]);
      }
    }
    // the names of the issue, each whole in the tooltip of the element that may cut it short
    const buffers = panelMarkup({ model: fullModel(), selected: 'buffers' }).html;
    expect(buffers).toContain('title="optimizer.opt_state">optimizer.opt_state</td>');
    expect(buffers).toContain('title="f32[1797,8,8,1]">f32[1797,8,8,1]</span>');
    const params = panelMarkup({ model: fullModel(), selected: 'params' }).html;
    const tbc = '[&#x27;tree_bias_correction&#x27;]';
    expect(params).toContain(`title="${tbc}">${tbc}</div>`);
    const compiles = panelMarkup({ model: fullModel(), selected: 'compiles' }).html;
    expect(compiles).toContain('title="tree_bias_correction">tree_bias_correction</td>');
  });
});
