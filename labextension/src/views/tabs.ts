/**
 * The tab registry: each sidebar tab is an id, a label and a React component. Later tabs
 * (e.g. Keys) register here without touching the panel.
 */

import type * as React from 'react';

import type { SessionModel } from '../model';
import type { StacksParams, StacksResult } from '../protocol';

/** What the panel gives each tab. Tabs read the model; they never talk to the kernel. */
export interface ITabProps {
  /** The current notebook's model, or null when no notebook is open. */
  model: SessionModel | null;
  /** `Date.now()` at render time, so "N s ago" text refreshes on the panel's timer. */
  now: number;
  /** User actions the panel forwards to the connector. */
  actions: IPanelActions;
  /**
   * Whether the panel is shown (false while the sidebar is collapsed or another sidebar panel is
   * on top). Absent means shown.
   */
  visible?: boolean;
  /**
   * Laid out for a wide area (the main-area view): full tables, several columns. Absent or false:
   * the sidebar's one column of cards, for 250–400 px.
   */
  wide?: boolean;
}

/**
 * What the sidebar asks the kernel to sample (`interest` RPC); 0 turns a sampler off. Each tab
 * sets only its own key: the kernel leaves samplers whose key is missing as they are.
 */
export interface IInterest {
  /** Seconds between `buffers` snapshots (Buffers tab); 0 = off. */
  buffers?: number;
  /** Seconds between `params_watch` samples of the watched trees (Params tab); 0 = off. */
  params?: number;
}

/** Actions a view may request; the plugin wires them to the current connector. */
export interface IPanelActions {
  /** Run `%load_ext jaxinspect` in the current kernel. */
  loadExtension(): void;
  /** Re-open the connection to the current kernel. */
  reconnect(): void;
  /**
   * The jaxpr diff of recompile `eventId` against the closest previous call of its function,
   * re-traced by the kernel (`compile_diff` RPC). Optional: frontends without it hide the button.
   */
  compileDiff?(eventId: number): Promise<ICompileDiff>;
  /**
   * Tell a kernel what to sample (`interest` RPC with params `{buffers: seconds}` or
   * `{params: seconds}`, only the keys set), the kernel of `model` when given, else the current
   * notebook's. Errors are logged, never thrown. Optional:
   * frontends without it never turn the sampler on.
   */
  setInterest?(interest: IInterest, model?: SessionModel | null): void;
  /**
   * Turn PRNG key tracking on or off in a kernel (`track_keys` RPC with params `{on: boolean}`),
   * the kernel of `model` when given, else the current notebook's. Errors are logged, never
   * thrown. Optional: frontends without it hide the Keys tab's track / stop buttons.
   */
  trackKeys?(on: boolean, model?: SessionModel | null): Promise<void> | void;
  /**
   * Ask every process of the job for its main-thread stack (`stacks` RPC), through the kernel of
   * `model` when given, else the current notebook's. The stacks come with the next `processes`
   * record; the answer says whom it asked and who answered. Rejects on an error or a timeout.
   * Optional: without it the Processes tab shows no "Ask for stacks" button.
   */
  askStacks?(params: StacksParams, model?: SessionModel | null): Promise<StacksResult>;
  /**
   * Open the same tabs in the main area, laid out wide (full tables), beside the notebook.
   * Optional: without it the sidebar shows no "Open in main area" button.
   */
  openInMainArea?(): void;
  /**
   * Scroll the current notebook to the cell whose execution count is `cell` (or, when that cell
   * was re-run, the cell holding `code`), put the cursor on `line` and highlight it briefly; a
   * transient message says so when it is gone. Optional: without it locations are plain text.
   */
  revealCell?(cell: number, line: number | null, code?: string | null): void;
}

/** What the kernel answers to `compile_diff` (plain text, rendered as text). */
export interface ICompileDiff {
  event_id: number;
  ok: boolean;
  headline: string;
  text: string;
}

export interface ITab {
  /** Stable id, used in `data-testid="jaxinspect-tab-<id>"`. */
  id: string;
  label: string;
  /** Lower ranks come first (default 100). */
  rank?: number;
  component: React.ComponentType<ITabProps>;
  /** Short text shown next to the label (e.g. a count); null or '' shows none. */
  badge?: (model: SessionModel | null) => string | null;
  /**
   * What a badge means, for the tab's tooltip and aria-label ("12" → "12 compiles"; "3 ⚠" with
   * the model → "3 processes, 1 stuck"); without it the badge is read as it is.
   */
  badgeLabel?: (badge: string, model: SessionModel | null) => string;
  /** The tab strip's 16 px icon (drawn in `currentColor`); without one, the label's first letter. */
  icon?: React.ComponentType;
}

/** An ordered set of tabs. */
export class TabRegistry {
  /** Add a tab; replaces a tab with the same id. */
  add(tab: ITab): void {
    this._tabs = this._tabs.filter(t => t.id !== tab.id);
    this._tabs.push(tab);
    this._tabs.sort((a, b) => (a.rank ?? 100) - (b.rank ?? 100));
  }

  get(id: string): ITab | undefined {
    return this._tabs.find(t => t.id === id);
  }

  /** Tabs in display order. */
  get tabs(): readonly ITab[] {
    return this._tabs;
  }

  private _tabs: ITab[] = [];
}
