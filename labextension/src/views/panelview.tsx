/**
 * What the panel shows (pure, no lumino, so tests can render it): header (notebook, connection
 * state, "Open in main area"), tab strip and the selected tab, laid out narrow (the sidebar's
 * cards) or wide (the main-area view's full tables).
 */

import * as React from 'react';

import type { SessionModel } from '../model';
import type { IPanelActions, TabRegistry } from './tabs';
import { TabStrip, tabDomId, tabPanelDomId, tabTitle } from './tabstrip';

export interface IPanelViewProps {
  tabs: TabRegistry;
  model: SessionModel | null;
  /** Id of the tab to show (the first one when unknown). */
  selected: string;
  /** A main-area view (no "Open in main area" button). */
  main?: boolean;
  /** Full tables (a main-area view with room for them) rather than the sidebar's cards. */
  wide: boolean;
  actions: IPanelActions;
  /** Unique per panel: prefixes the DOM ids of its tabs and tab panel. */
  idPrefix: string;
  visible: boolean;
  now: number;
  onSelect(id: string): void;
}

export function PanelView(props: IPanelViewProps): React.ReactElement {
  const { tabs, model, wide, actions, idPrefix: prefix } = props;
  const tab = tabs.get(props.selected) ?? tabs.tabs[0];
  const Body = tab?.component;
  const state = model ? model.state : 'no-notebook';
  const main = props.main ?? wide;
  const openMain = !main && actions.openInMainArea ? actions.openInMainArea : null;
  return (
    <div
      className={'jp-JaxInspect-root ' + (wide ? 'jp-JaxInspect-wide' : 'jp-JaxInspect-narrow')}
      data-layout={wide ? 'wide' : 'narrow'}
      data-view={main ? 'main' : 'sidebar'}
    >
      <header className="jp-JaxInspect-header">
        <div className="jp-JaxInspect-title" title={model?.name ?? ''}>
          {model ? model.name || 'notebook' : 'no notebook'}
        </div>
        <div className={`jp-JaxInspect-state jp-JaxInspect-state-${state}`}>
          <span data-testid="jaxinspect-state">{state}</span>
        </div>
        {openMain && (
          <button
            type="button"
            className="jp-JaxInspect-headerButton"
            data-testid="jaxinspect-open-main"
            title="Open in main area: the same tabs with full tables, beside the notebook"
            aria-label="Open in main area"
            onClick={() => openMain()}
          >
            <svg width="16" height="16" viewBox="0 0 16 16" aria-hidden="true" focusable="false">
              <path
                d="M9.5 2.5h4v4M13.5 2.5 8 8M12 9.5v3a1 1 0 0 1-1 1H3.5a1 1 0 0 1-1-1V5a1 1 0 0 1 1-1h3"
                fill="none"
                stroke="currentColor"
                strokeWidth="1.4"
                strokeLinecap="round"
                strokeLinejoin="round"
              />
            </svg>
          </button>
        )}
      </header>
      {model?.message && (
        <div
          className={`jp-JaxInspect-message jp-JaxInspect-message-${state}`}
          data-testid="jaxinspect-message"
        >
          {model.message}
        </div>
      )}
      <TabStrip
        tabs={tabs.tabs}
        selected={tab?.id ?? ''}
        model={model}
        idPrefix={prefix}
        onSelect={props.onSelect}
      />
      <div
        className="jp-JaxInspect-body"
        role="tabpanel"
        id={tabPanelDomId(prefix)}
        aria-labelledby={tab ? tabDomId(prefix, tab.id) : undefined}
        tabIndex={0}
      >
        {tab && (
          <h2 className="jp-JaxInspect-tabTitle" data-testid="jaxinspect-tab-title">
            {tabTitle(tab, tab.badge?.(model) || null)}
          </h2>
        )}
        {Body && (
          <Body
            model={model}
            now={props.now}
            actions={actions}
            visible={props.visible}
            wide={wide}
          />
        )}
      </div>
    </div>
  );
}
