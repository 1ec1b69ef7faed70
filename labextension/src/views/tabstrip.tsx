/**
 * The panel's tab strip, one row at 250 px: an icon and a count per tab (the label too where the
 * panel is wide enough), the full label and count in each tab's tooltip and aria-label.
 *
 * Keyboard (WAI-ARIA tabs pattern, automatic activation): one tab stop (the current tab,
 * roving tabindex); ArrowLeft / ArrowRight move to the previous / next tab (wrapping), Home / End to
 * the first / last, and the tab moved to is selected and focused.
 */

import * as React from 'react';

import type { SessionModel } from '../model';
import { LetterIcon } from './icons';
import type { ITab } from './tabs';

/**
 * The tab a key moves to from tab `index` of `count`, or null for a key the strip ignores.
 */
export function tabKeyTarget(key: string, index: number, count: number): number | null {
  if (count <= 0) {
    return null;
  }
  switch (key) {
    case 'ArrowRight':
      return (index + 1) % count;
    case 'ArrowLeft':
      return (index - 1 + count) % count;
    case 'Home':
      return 0;
    case 'End':
      return count - 1;
    default:
      return null;
  }
}

/** Marks a badge may carry after its count: "⚠" (an alert), "≠" (counts differ). */
const ALERT_MARKS = /[⚠≠]/g;

/** Whether a badge carries an alert mark (the strip draws it in the error colour). */
export function badgeAlerts(badge: string): boolean {
  return /[⚠≠]/.test(badge);
}

/**
 * A badge as the strip shows it, short enough for six tabs in 250 px: a whole number of 1,000 or
 * more shortened ("1234" → "1.2k", "56789" → "57k", "2300000" → "2.3M"); an alert mark dropped
 * (the badge turns red instead: "2 ⚠" → "2", a lone "⚠" → "!"); anything else as it is. The
 * tooltip and aria-label keep the full text.
 */
export function compactBadge(badge: string): string {
  const marked = badgeAlerts(badge);
  const rest = badge.replace(ALERT_MARKS, '').trim();
  if (marked && !rest) {
    return '!';
  }
  const plain = rest.replace(/,/g, '');
  if (!/^\d+$/.test(plain)) {
    return rest;
  }
  const n = Number(plain);
  const unit = (v: number, suffix: string) =>
    `${v < 10 ? Number(v.toFixed(1)) : Math.round(v)}${suffix}`;
  if (n >= 1e9) {
    return unit(n / 1e9, 'G');
  }
  if (n >= 1e6) {
    return unit(n / 1e6, 'M');
  }
  if (n >= 1e3) {
    return unit(n / 1e3, 'k');
  }
  return String(n);
}

/**
 * "Compiles: 12 compiles", "Processes: 3 processes, 1 stuck" — the tab's tooltip and aria-label
 * (what the badge means may read the model); just the label without a badge.
 */
export function tabTitle(tab: ITab, badge: string | null, model: SessionModel | null = null): string {
  if (!badge) {
    return tab.label;
  }
  return `${tab.label}: ${tab.badgeLabel ? tab.badgeLabel(badge, model) : badge}`;
}

/** The DOM ids of a panel's tab and tab panel (a page may hold several panels). */
export function tabDomId(prefix: string, id: string): string {
  return `${prefix}-tab-${id}`;
}

export function tabPanelDomId(prefix: string): string {
  return `${prefix}-tabpanel`;
}

export interface ITabStripProps {
  tabs: readonly ITab[];
  /** Id of the current tab. */
  selected: string;
  model: SessionModel | null;
  /** Unique per panel: prefixes the tabs' DOM ids. */
  idPrefix: string;
  onSelect(id: string): void;
}

/** The strip (no hooks, so tests can call it and its handlers directly). */
export function TabStrip(props: ITabStripProps): React.ReactElement {
  const { tabs, selected, model, idPrefix, onSelect } = props;
  const current = Math.max(
    0,
    tabs.findIndex(t => t.id === selected)
  );
  const onKeyDown = (ev: React.KeyboardEvent<HTMLElement>) => {
    const to = tabKeyTarget(ev.key, current, tabs.length);
    if (to === null) {
      return;
    }
    ev.preventDefault();
    const id = tabs[to].id;
    onSelect(id);
    const target = ev.currentTarget.querySelector<HTMLElement>(
      `#${CSS_escape(tabDomId(idPrefix, id))}`
    );
    target?.focus();
  };
  return (
    <div
      className="jp-JaxInspect-tabbar"
      role="tablist"
      aria-label="jaxinspect views"
      aria-orientation="horizontal"
      onKeyDown={onKeyDown}
    >
      {tabs.map((t, i) => {
        const badge = t.badge?.(model) || null;
        const isCurrent = i === current;
        const title = tabTitle(t, badge, model);
        const Icon = t.icon;
        return (
          <button
            key={t.id}
            id={tabDomId(idPrefix, t.id)}
            type="button"
            role="tab"
            aria-selected={isCurrent}
            aria-controls={tabPanelDomId(idPrefix)}
            aria-label={title}
            title={title}
            tabIndex={isCurrent ? 0 : -1}
            className={'jp-JaxInspect-tab' + (isCurrent ? ' jp-mod-current' : '')}
            data-testid={`jaxinspect-tab-${t.id}`}
            onClick={() => onSelect(t.id)}
          >
            {Icon ? <Icon /> : <LetterIcon label={t.label} />}
            <span className="jp-JaxInspect-tabLabel">{t.label}</span>
            {badge ? (
              <span
                className={
                  'jp-JaxInspect-badge' + (badgeAlerts(badge) ? ' jp-JaxInspect-badgeAlert' : '')
                }
                data-testid={`jaxinspect-tab-badge-${t.id}`}
                data-badge={badge}
              >
                {compactBadge(badge)}
              </span>
            ) : null}
          </button>
        );
      })}
    </div>
  );
}

/** `CSS.escape` where the page has it (tab ids are plain words; this is a guard). */
function CSS_escape(s: string): string {
  const css = (globalThis as any).CSS;
  return css && typeof css.escape === 'function' ? css.escape(s) : s.replace(/[^\w-]/g, '\\$&');
}
