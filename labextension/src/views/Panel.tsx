/** The sidebar panel: header (notebook, connection state), tab bar and the selected tab. */

import * as React from 'react';

import { ReactWidget } from '@jupyterlab/ui-components';

import type { SessionModel } from '../model';
import type { IPanelActions, TabRegistry } from './tabs';

/** Refresh period of relative times ("updated 0.3 s ago"), in ms. */
const TICK_MS = 1000;

export class Panel extends ReactWidget {
  constructor(options: Panel.IOptions) {
    super();
    this.tabs = options.tabs;
    this._actions = options.actions;
    this._selected = this.tabs.tabs[0]?.id ?? '';
    this.addClass('jp-JaxInspect-panel');
  }

  readonly tabs: TabRegistry;

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
    this.update();
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
    const model = this._model;
    const tab = this.tabs.get(this._selected) ?? this.tabs.tabs[0];
    const Body = tab?.component;
    const state = model ? model.state : 'no-notebook';
    return (
      <div className="jp-JaxInspect-root">
        <header className="jp-JaxInspect-header">
          <div className="jp-JaxInspect-title" title={model?.name ?? ''}>
            {model ? model.name || 'notebook' : 'no notebook'}
          </div>
          <div className={`jp-JaxInspect-state jp-JaxInspect-state-${state}`}>
            <span data-testid="jaxinspect-state">{state}</span>
          </div>
        </header>
        {model?.message && (
          <div
            className={`jp-JaxInspect-message jp-JaxInspect-message-${state}`}
            data-testid="jaxinspect-message"
          >
            {model.message}
          </div>
        )}
        <nav className="jp-JaxInspect-tabbar" role="tablist">
          {this.tabs.tabs.map(t => {
            const badge = t.badge?.(model);
            return (
              <button
                key={t.id}
                role="tab"
                aria-selected={t.id === tab?.id}
                className={
                  'jp-JaxInspect-tab' + (t.id === tab?.id ? ' jp-mod-current' : '')
                }
                data-testid={`jaxinspect-tab-${t.id}`}
                onClick={() => this.select(t.id)}
              >
                {t.label}
                {badge ? (
                  <span
                    className="jp-JaxInspect-badge"
                    data-testid={`jaxinspect-tab-badge-${t.id}`}
                  >
                    {badge}
                  </span>
                ) : null}
              </button>
            );
          })}
        </nav>
        <div className="jp-JaxInspect-body" role="tabpanel">
          {Body && (
            <Body
              model={model}
              now={Date.now()}
              actions={this._actions}
              visible={this.isVisible}
            />
          )}
        </div>
      </div>
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
  private _timer: ReturnType<typeof setInterval> | null = null;
}

export namespace Panel {
  export interface IOptions {
    tabs: TabRegistry;
    actions: IPanelActions;
  }
}
