/**
 * A place in the user's code, as the kernel computed it (`Location`: "cell [5] line 3" or
 * "model.py:12", the line's code, the cell's execution count). A notebook cell's location is a
 * link-like button: clicking it (or Enter / Space on it) scrolls the notebook to that cell and
 * line (`actions.revealCell`); the line's code shows on hover. A file's location, or any location
 * where the front end cannot reveal cells, is plain text with the same hover. Kernel strings are
 * rendered as React text only.
 */

import * as React from 'react';

import type { ILocation } from '../protocol';
import type { IPanelActions } from './tabs';

export interface ICellLocationProps {
  /** The place, or null / undefined when the kernel sent none (an older kernel). */
  loc: ILocation | null | undefined;
  /** The panel's actions; a cell location is clickable when `revealCell` is there. */
  actions?: IPanelActions | null;
  /** The text shown (default: `loc.text`), e.g. "normal @ cell [3] line 5". */
  text?: string | null;
  /** Shown when there is neither `loc` nor `text`. */
  fallback?: string;
  className?: string;
  testid?: string;
}

/** The hover text of a place: its line's code; for a file, its full path and line first. */
export function locationTitle(loc: ILocation | null | undefined): string | undefined {
  if (!loc) {
    return undefined;
  }
  const parts: string[] = [];
  if (loc.cell === null && loc.path) {
    parts.push(loc.line !== null ? `${loc.path}:${loc.line}` : loc.path);
  }
  if (loc.code) {
    parts.push(loc.code);
  }
  return parts.length ? parts.join('\n') : undefined;
}

/** Whether a place is a notebook cell the notebook can be scrolled to. */
export function isCellLocation(loc: ILocation | null | undefined): loc is ILocation & { cell: number } {
  return !!loc && typeof loc.cell === 'number';
}

export function CellLocation(props: ICellLocationProps): React.ReactElement {
  const { loc, actions } = props;
  const text = props.text ?? loc?.text ?? props.fallback ?? '?';
  // a longer text than the place (an op, a function) may be cut by the layout: whole on hover
  const code = locationTitle(loc);
  const title = props.text && props.text !== loc?.text ? [text, code].filter(Boolean).join('\n') : code;
  const reveal = actions?.revealCell;
  const cls = props.className ? ` ${props.className}` : '';
  if (isCellLocation(loc) && reveal) {
    const go = (ev: React.SyntheticEvent) => {
      ev.preventDefault();
      ev.stopPropagation(); // a location inside a clickable row opens the cell, not the row
      reveal(loc.cell, loc.line, loc.code);
    };
    return (
      <button
        type="button"
        className={`jp-JaxInspect-cellLink${cls}`}
        data-testid={props.testid ?? 'jaxinspect-cell-location'}
        data-jaxinspect-cell={String(loc.cell)}
        data-jaxinspect-line={loc.line === null ? undefined : String(loc.line)}
        aria-label={`Go to ${loc.text}`}
        title={title}
        onClick={go}
        onKeyDown={ev => {
          if (ev.key === 'Enter' || ev.key === ' ') {
            go(ev);
          } else {
            ev.stopPropagation(); // keys on the link are the link's, not the row's
          }
        }}
      >
        {text}
      </button>
    );
  }
  return (
    <span
      className={`jp-JaxInspect-location${cls}`}
      data-testid={props.testid ?? 'jaxinspect-location'}
      title={title}
    >
      {text}
    </span>
  );
}
