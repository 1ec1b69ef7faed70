/**
 * The jaxinspect panel: header (notebook, connection state, "Open in main area"), tab strip and
 * the selected tab. In the right sidebar (250–400 px) the tabs lay out as one column of cards; a
 * `wide` panel (the main-area view) shows the same tabs with full tables.
 */

import * as React from 'react';

import { ReactWidget } from '@jupyterlab/ui-components';

import type { SessionModel } from '../model';
import type { IPanelActions, TabRegistry } from './tabs';
import { PanelView } from './panelview';

/** Refresh period of relative times ("updated 0.3 s ago"), in ms. */
const TICK_MS = 1000;

/** Panels made so far: each gets its own DOM id prefix (a page may show two). */
let panelCount = 0;

/**
 * Narrowest width (px) at which a wide panel shows full tables; narrower (e.g. split beside a
 * notebook on a small screen) it shows the sidebar's cards, which fit any width.
 */
export const WIDE_MIN_PX = 600;

export class Panel extends ReactWidget {
  constructor(options: Panel.IOptions) {
    super();
    this.tabs = options.tabs;
    this._actions = options.actions;
    this._selected = this.tabs.tabs[0]?.id ?? '';
    this.wide = !!options.wide;
    this._idPrefix = `jaxinspect-${++panelCount}`;
    this.addClass('jp-JaxInspect-panel');
    if (this.wide) {
      this.addClass('jp-JaxInspect-panelWide');
    }
  }

  readonly tabs: TabRegistry;

  /** A main-area view: laid out for a wide area (full tables where it has the room). */
  readonly wide: boolean;

  /** The panel's width in px as last laid out (0 before it is shown). */
  get width(): number {
    return this._width;
  }

  /** Id of the tab shown. */
  get selected(): string {
    return (this.tabs.get(this._selected) ?? this.tabs.tabs[0])?.id ?? '';
  }

  /** The model shown, or null when no notebook is current. */
  get model(): SessionModel | null {
    return this._model;
  }

  set model(model: SessionModel | null) {
    if (model === this._model) {
      return;
    }
    this._model?.stateChanged.disconnect(this._onModelChanged, this);
    this._model = model;
    model?.stateChanged.connect(this._onModelChanged, this);
    this.update();
  }

  /** Select a tab by id. */
  select(id: string): void {
    if (this.tabs.get(id)) {
      this._selected = id;
      this.update();
    }
  }

  dispose(): void {
    if (this.isDisposed) {
      return;
    }
    this._stopTimer();
    this.model = null;
    super.dispose();
  }

  protected onAfterShow(msg: any): void {
    super.onAfterShow(msg);
    this._startTimer();
    this._measure(-1);
    this.update();
  }

  protected onResize(msg: any): void {
    super.onResize(msg);
    this._measure(typeof msg?.width === 'number' ? msg.width : -1);
  }

  /** Keep the width; re-render when it crosses `WIDE_MIN_PX` (tables ⇄ cards). */
  private _measure(width: number): void {
    const w = width >= 0 ? width : this.node.offsetWidth;
    const roomy = (x: number) => x >= WIDE_MIN_PX;
    const changed = roomy(w) !== roomy(this._width);
    this._width = w;
    if (changed && this.wide) {
      this.update();
    }
  }

  protected onAfterAttach(msg: any): void {
    super.onAfterAttach(msg);
    if (this.isVisible) {
      this._startTimer();
    }
  }

  protected onBeforeHide(msg: any): void {
    super.onBeforeHide(msg);
    this._stopTimer();
  }

  protected onAfterHide(msg: any): void {
    super.onAfterHide(msg);
    // Re-render so that tabs see `visible: false` (e.g. Buffers stops the kernel's sampler).
    this.update();
  }

  protected onBeforeDetach(msg: any): void {
    this._stopTimer();
    super.onBeforeDetach(msg);
  }

  protected render(): React.ReactElement {
    return (
      <PanelView
        tabs={this.tabs}
        model={this._model}
        selected={this._selected}
        main={this.wide}
        wide={this.wide && this._width >= WIDE_MIN_PX}
        actions={this._actions}
        idPrefix={this._idPrefix}
        visible={this.isVisible}
        now={Date.now()}
        onSelect={id => this.select(id)}
      />
    );
  }

  private _onModelChanged(): void {
    this.update();
  }

  private _startTimer(): void {
    if (this._timer === null) {
      this._timer = setInterval(() => {
        if (this._model?.state === 'ready') {
          this.update();
        }
      }, TICK_MS);
    }
  }

  private _stopTimer(): void {
    if (this._timer !== null) {
      clearInterval(this._timer);
      this._timer = null;
    }
  }

  private _model: SessionModel | null = null;
  private _selected: string;
  private _actions: IPanelActions;
  private _idPrefix: string;
  private _width = 0;
  private _timer: ReturnType<typeof setInterval> | null = null;
}

export namespace Panel {
  export interface IOptions {
    tabs: TabRegistry;
    actions: IPanelActions;
    /**
     * A main-area view: the same tabs laid out for a wide area (full tables, several columns),
     * and no "Open in main area" button. Default: the sidebar's one column of cards.
     */
    wide?: boolean;
  }
}
