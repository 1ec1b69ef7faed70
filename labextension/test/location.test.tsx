/**
 * Cell locations: a place in a notebook cell is a keyboard-accessible link-like button that asks
 * the panel to reveal the cell (`actions.revealCell`), with the line's code on hover; a file's
 * place, or any place where the front end cannot reveal cells, is plain text. `findCell` and
 * `linkTarget` (reveal.ts) pick the cell to scroll to and read a link in an HTML output.
 */

import * as React from 'react';
import { renderToStaticMarkup } from 'react-dom/server';
import { describe, expect, it, vi } from 'vitest';

import { SessionModel } from '../src/model';
import { findCell, linkTarget } from '../src/reveal';
import { Compiles } from '../src/views/Compiles';
import { Keys } from '../src/views/Keys';
import { CellLocation, locationTitle } from '../src/views/location';
import type { IPanelActions } from '../src/views/tabs';
import {
  batch,
  cellLocation,
  compileEvent,
  fileLocation,
  hello,
  keyReuse,
  keysRecord
} from './fixtures';

function actionsWith(revealCell?: IPanelActions['revealCell']): IPanelActions {
  return { loadExtension: () => undefined, reconnect: () => undefined, revealCell };
}

/** The element `CellLocation` renders (it has no hooks, so it can be called directly). */
function element(props: React.ComponentProps<typeof CellLocation>): React.ReactElement<any> {
  return CellLocation(props) as React.ReactElement<any>;
}

function fakeEvent(key?: string) {
  return { key, preventDefault: vi.fn(), stopPropagation: vi.fn() };
}

describe('CellLocation', () => {
  const loc = cellLocation(5, 3, 'loss = f(x)');

  it('is a button named for where it goes, with the code on hover', () => {
    const html = renderToStaticMarkup(
      <CellLocation loc={loc} actions={actionsWith(() => undefined)} />
    );
    expect(html).toMatch(/^<button type="button" class="jp-JaxInspect-cellLink"/);
    expect(html).toContain('aria-label="Go to cell [5] line 3"');
    expect(html).toContain('title="loss = f(x)"');
    expect(html).toContain('data-jaxinspect-cell="5"');
    expect(html).toContain('>cell [5] line 3</button>');
  });

  it('asks the panel to reveal the cell on click, Enter and Space, and keeps the row closed', () => {
    const revealCell = vi.fn();
    const el = element({ loc, actions: actionsWith(revealCell) });
    const click = fakeEvent();
    el.props.onClick(click);
    expect(revealCell).toHaveBeenLastCalledWith(5, 3, 'loss = f(x)');
    expect(click.stopPropagation).toHaveBeenCalled(); // the event row must not toggle
    for (const key of ['Enter', ' ']) {
      const ev = fakeEvent(key);
      el.props.onKeyDown(ev);
      expect(ev.preventDefault).toHaveBeenCalled();
    }
    expect(revealCell).toHaveBeenCalledTimes(3);
    const tab = fakeEvent('Tab');
    el.props.onKeyDown(tab);
    expect(revealCell).toHaveBeenCalledTimes(3);
    expect(tab.preventDefault).not.toHaveBeenCalled();
  });

  it('shows a longer text whole on hover, with the code', () => {
    const html = renderToStaticMarkup(
      <CellLocation
        loc={loc}
        text="normal @ cell [5] line 3 (loss)"
        actions={actionsWith(() => undefined)}
      />
    );
    expect(html).toContain('title="normal @ cell [5] line 3 (loss)\nloss = f(x)"');
    expect(html).toContain('>normal @ cell [5] line 3 (loss)</button>');
  });

  it('is plain text where nothing can reveal cells, and for files', () => {
    const html = renderToStaticMarkup(<CellLocation loc={loc} actions={actionsWith()} />);
    expect(html).toBe(
      '<span class="jp-JaxInspect-location" data-testid="jaxinspect-location" title="loss = f(x)">cell [5] line 3</span>'
    );
    const file = fileLocation('/home/u/proj/model.py', 12, 'y = g(x)');
    const revealCell = vi.fn();
    const fileHtml = renderToStaticMarkup(
      <CellLocation loc={file} actions={actionsWith(revealCell)} />
    );
    expect(fileHtml).toContain('<span');
    expect(fileHtml).toContain('>proj/model.py:12<');
    expect(locationTitle(file)).toBe('/home/u/proj/model.py:12\ny = g(x)');
    expect(fileHtml).not.toContain('button');
  });

  it('falls back to the text it is given when the kernel sent no place', () => {
    expect(renderToStaticMarkup(<CellLocation loc={null} fallback="?" />)).toContain('>?<');
    expect(renderToStaticMarkup(<CellLocation loc={undefined} text="cell [2] line 1" />)).toContain(
      '>cell [2] line 1<'
    );
  });

  it('renders kernel strings as text', () => {
    const evil = cellLocation(1, 1, '<img src=x onerror=alert(1)>');
    const html = renderToStaticMarkup(
      <CellLocation loc={evil} actions={actionsWith(() => undefined)} />
    );
    expect(html).not.toContain('<img');
    expect(html).toContain('title="&lt;img src=x onerror=alert(1)&gt;"');
  });
});

describe('findCell', () => {
  const cells = [
    { type: 'markdown', executionCount: null, source: '# title' },
    { type: 'code', executionCount: 3, source: 'a = 1\nb = f(a)\n' },
    { type: 'code', executionCount: 9, source: 'x = 2\nloss = f(x)\nprint(loss)' },
    { type: 'code', executionCount: 4, source: 'loss = f(x)' }
  ];

  it('finds the cell by its execution count and keeps the line', () => {
    expect(findCell(cells, 9, 2, 'loss = f(x)')).toEqual({ index: 2, line: 1, byCode: false });
    expect(findCell(cells, 3, 99, null)).toEqual({ index: 1, line: null, byCode: false });
  });

  it('falls back to the newest cell holding the line when the count was re-run', () => {
    expect(findCell(cells, 7, 2, '  loss = f(x)  ')).toEqual({ index: 2, line: 1, byCode: true });
    expect(findCell(cells, 7, 2, 'not anywhere')).toBeNull();
    expect(findCell(cells, 7, 2, null)).toBeNull();
  });
});

describe('linkTarget', () => {
  function el(attrs: { [k: string]: string }) {
    const node = {
      getAttribute: (k: string) => (k in attrs ? attrs[k] : null),
      closest: (sel: string) => (sel === '[data-jaxinspect-cell]' ? node : null)
    };
    return node as unknown as EventTarget;
  }

  it('reads the cell, line and code of a link in an HTML output', () => {
    expect(
      linkTarget(
        el({
          'data-jaxinspect-cell': '12',
          'data-jaxinspect-line': '4',
          'data-jaxinspect-code': 'y = g(x)',
          title: 'y = g(x)'
        })
      )
    ).toEqual({ cell: 12, line: 4, code: 'y = g(x)' });
    expect(linkTarget(el({ 'data-jaxinspect-cell': '2' }))).toEqual({
      cell: 2,
      line: null,
      code: null
    });
  });

  it('ignores what is not a cell link', () => {
    expect(linkTarget(null)).toBeNull();
    expect(linkTarget(el({ 'data-jaxinspect-cell': 'x' }))).toBeNull();
    const plain = { closest: () => null } as unknown as EventTarget;
    expect(linkTarget(plain)).toBeNull();
  });
});

describe('the tabs link their places', () => {
  function model(records: Parameters<typeof batch>[1]): SessionModel {
    const m = new SessionModel();
    m.applyHello(hello());
    m.applyBatch(batch(1, records));
    return m;
  }

  it('Keys: reuse uses and lineage sites in a cell are buttons; a site without a place is text', () => {
    const m = model([keysRecord(), keyReuse()]);
    const html = renderToStaticMarkup(
      <Keys model={m} now={0} actions={actionsWith(() => undefined)} />
    );
    expect(html).toContain('aria-label="Go to cell [3] line 5"'); // first use
    expect(html).toContain('aria-label="Go to cell [3] line 6"'); // second use
    // lineage: 'cell 3, line 4' has a place, 'cell 3, line 2' (the root) has none
    expect(html).toMatch(/<button[^>]*data-testid="jaxinspect-keys-site"[^>]*aria-label="Go to cell \[3\] line 4"/);
    expect(html).toMatch(/<span class="jp-JaxInspect-dim jp-JaxInspect-keysSite" data-testid="jaxinspect-keys-site" title="cell 3, line 2">/);
  });

  it('Compiles: a cell call site is a button that reveals its cell', () => {
    const revealCell = vi.fn();
    const m = model([compileEvent({ id: 4, call: cellLocation(9, 2, 'y = step(x)') })]);
    const html = renderToStaticMarkup(<Compiles model={m} now={0} actions={actionsWith(revealCell)} />);
    expect(html).toMatch(/<button[^>]*data-testid="jaxinspect-compile-site"[^>]*aria-label="Go to cell \[9\] line 2" title="y = step\(x\)">cell \[9\] line 2<\/button>/);
  });
});
