/**
 * Scroll a notebook to "cell [N] line L": the cell whose execution count is N (or, when that cell
 * was re-run since and now has another count, a code cell whose source holds the line's code),
 * made active and scrolled into view, with the cursor / selection on line L and a brief highlight.
 * A location whose cell is gone says so in a transient message, never an exception.
 *
 * `installCellLinks` adds ONE delegated click listener per notebook: elements jaxinspect wrote in
 * HTML cell outputs with `data-jaxinspect-cell` / `data-jaxinspect-line` (and the line's code as
 * their `title`) scroll the notebook the same way. Front ends without this extension show them as
 * plain text with the hover title.
 */

import type { NotebookPanel } from '@jupyterlab/notebook';
import type { IDisposable } from '@lumino/disposable';

/** How long the revealed cell keeps its highlight (ms). */
export const HIGHLIGHT_MS = 1600;
/** The highlight's CSS class, on the cell widget's node. */
export const HIGHLIGHT_CLASS = 'jp-JaxInspect-revealed';

/** What `findCell` needs of a cell. */
export interface ICellInfo {
  type: string;
  executionCount: number | null;
  source: string;
}

export interface IFound {
  /** Index of the cell in the notebook. */
  index: number;
  /** 0-based line to put the cursor on, or null. */
  line: number | null;
  /** True when found by its code (execution count N is no longer in the notebook). */
  byCode: boolean;
}

/**
 * The cell to reveal (pure): the code cell whose execution count is `count`; else, with `code`,
 * the code cell holding that line (the one with the highest execution count when several do),
 * the cursor on the matching line nearest `line`. Null when neither is found.
 */
export function findCell(
  cells: readonly ICellInfo[],
  count: number,
  line: number | null,
  code?: string | null
): IFound | null {
  const wanted = line !== null && line > 0 ? line - 1 : null;
  for (let i = 0; i < cells.length; i++) {
    const c = cells[i];
    if (c.type === 'code' && c.executionCount === count) {
      const lines = c.source.split('\n');
      const at = wanted !== null && wanted < lines.length ? wanted : null;
      return { index: i, line: at, byCode: false };
    }
  }
  const target = (code ?? '').trim();
  if (!target) {
    return null;
  }
  let best: IFound | null = null;
  let bestCount = -Infinity;
  for (let i = 0; i < cells.length; i++) {
    const c = cells[i];
    if (c.type !== 'code') {
      continue;
    }
    const lines = c.source.split('\n');
    let at: number | null = null;
    for (let j = 0; j < lines.length; j++) {
      if (lines[j].trim() === target) {
        if (at === null || (wanted !== null && Math.abs(j - wanted) < Math.abs(at - wanted))) {
          at = j;
        }
      }
    }
    const n = c.executionCount ?? -1;
    if (at !== null && n > bestCount) {
      best = { index: i, line: at, byCode: true };
      bestCount = n;
    }
  }
  return best;
}

function cellInfos(panel: NotebookPanel): ICellInfo[] {
  return panel.content.widgets.map(w => {
    const model = w.model as unknown as {
      type: string;
      executionCount?: number | null;
      sharedModel: { getSource(): string };
    };
    return {
      type: model.type,
      executionCount: model.type === 'code' ? (model.executionCount ?? null) : null,
      source: model.sharedModel.getSource()
    };
  });
}

/** A transient message (JupyterLab's notifications where there are; the console otherwise). */
async function tell(message: string): Promise<void> {
  try {
    const { Notification } = await import('@jupyterlab/apputils');
    Notification.warning(message, { autoClose: 5000 });
  } catch {
    console.warn(message);
  }
}

export interface IRevealOptions {
  /** Bring the notebook's tab to the front first (e.g. `shell.activateById`). */
  activate?: (id: string) => void;
}

/**
 * Scroll `panel` to cell [count] line `line`. Resolves true when the cell was found and shown;
 * false (after a transient message) when it is not in the notebook. Never throws.
 */
export async function revealCell(
  panel: NotebookPanel,
  count: number,
  line: number | null,
  code?: string | null,
  options: IRevealOptions = {}
): Promise<boolean> {
  try {
    const found = findCell(cellInfos(panel), count, line, code);
    const where = line !== null ? `cell [${count}] line ${line}` : `cell [${count}]`;
    if (!found) {
      await tell(
        `jaxinspect: ${where} is no longer in this notebook (re-run or deleted` +
          (code ? `, and no cell holds \`${code}\`` : '') +
          ')'
      );
      return false;
    }
    options.activate?.(panel.id);
    const notebook = panel.content;
    const cell = notebook.widgets[found.index];
    notebook.activeCellIndex = found.index;
    notebook.deselectAll();
    await notebook.scrollToCell(cell, 'center');
    const editor = cell.editor;
    if (editor && found.line !== null) {
      const text = cell.model.sharedModel.getSource().split('\n')[found.line] ?? '';
      const start = { line: found.line, column: text.length - text.trimStart().length };
      editor.setSelection({ start, end: { line: found.line, column: text.length } });
      editor.revealPosition(start);
    }
    cell.node.classList.add(HIGHLIGHT_CLASS);
    cell.node.dataset.jaxinspectRevealed = where;
    window.setTimeout(() => {
      cell.node.classList.remove(HIGHLIGHT_CLASS);
    }, HIGHLIGHT_MS);
    if (found.byCode) {
      await tell(
        `jaxinspect: ${where} was re-run; showing the cell that now holds that line`
      );
    }
    return true;
  } catch (err) {
    console.warn('jaxinspect: could not scroll to the cell', err);
    return false;
  }
}

/** The place a clicked element in a cell output names, or null. */
export function linkTarget(
  target: EventTarget | null
): { cell: number; line: number | null; code: string | null } | null {
  const el =
    target && typeof (target as Element).closest === 'function'
      ? (target as Element).closest('[data-jaxinspect-cell]')
      : null;
  if (!el) {
    return null;
  }
  const cell = Number(el.getAttribute('data-jaxinspect-cell'));
  if (!Number.isInteger(cell)) {
    return null;
  }
  const rawLine = el.getAttribute('data-jaxinspect-line');
  const line = rawLine !== null && rawLine !== '' && Number.isInteger(Number(rawLine)) ? Number(rawLine) : null;
  return { cell, line, code: el.getAttribute('data-jaxinspect-code') ?? el.getAttribute('title') };
}

/**
 * One delegated click (and Enter) listener on the notebook's node: a cell location jaxinspect
 * wrote into an HTML output scrolls the notebook to it. Disposed with the notebook.
 */
export function installCellLinks(panel: NotebookPanel, options: IRevealOptions = {}): IDisposable {
  const node = panel.content.node;
  const onClick = (ev: MouseEvent) => {
    const place = linkTarget(ev.target);
    if (!place) {
      return;
    }
    ev.preventDefault();
    ev.stopPropagation();
    void revealCell(panel, place.cell, place.line, place.code, options);
  };
  const onKey = (ev: KeyboardEvent) => {
    if (ev.key !== 'Enter') {
      return;
    }
    const place = linkTarget(ev.target);
    if (!place) {
      return;
    }
    ev.preventDefault();
    ev.stopPropagation();
    void revealCell(panel, place.cell, place.line, place.code, options);
  };
  node.addEventListener('click', onClick);
  node.addEventListener('keydown', onKey);
  let disposed = false;
  const handle: IDisposable = {
    get isDisposed() {
      return disposed;
    },
    dispose() {
      if (!disposed) {
        disposed = true;
        node.removeEventListener('click', onClick);
        node.removeEventListener('keydown', onKey);
      }
    }
  };
  panel.disposed.connect(() => handle.dispose());
  return handle;
}
