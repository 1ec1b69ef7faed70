/** The built-in tabs, in order. Later tabs add a line here. */

import { Buffers, buffersBadge } from './Buffers';
import {
  BuffersIcon,
  CompilesIcon,
  KeysIcon,
  OverviewIcon,
  ParamsIcon,
  ProcessesIcon
} from './icons';
import { Compiles, compilesBadge } from './Compiles';
import { Keys, keysBadge } from './Keys';
import { Overview } from './Overview';
import { Params, paramsBadge } from './Params';
import { Processes, processesBadge, processesBadgeTitle } from './Processes';
import type { SessionModel } from '../model';
import { TabRegistry } from './tabs';

export function createDefaultTabs(): TabRegistry {
  const tabs = new TabRegistry();
  tabs.add({ id: 'overview', label: 'Overview', rank: 0, component: Overview, icon: OverviewIcon });
  tabs.add({
    id: 'compiles',
    label: 'Compiles',
    rank: 10,
    component: Compiles,
    badge: compilesBadge,
    badgeLabel: b => `${b} ${b === '1' ? 'compile' : 'compiles'}`,
    icon: CompilesIcon
  });
  tabs.add({
    id: 'buffers',
    label: 'Buffers',
    rank: 20,
    component: Buffers,
    badge: buffersBadge,
    badgeLabel: b => `${b} live ${b === '1' ? 'array' : 'arrays'}`,
    icon: BuffersIcon
  });
  tabs.add({
    id: 'params',
    label: 'Params',
    rank: 30,
    component: Params,
    badge: paramsBadge,
    badgeLabel: paramsBadgeLabel,
    icon: ParamsIcon
  });
  tabs.add({
    id: 'keys',
    label: 'Keys',
    rank: 40,
    component: Keys,
    badge: keysBadge,
    badgeLabel: b => (b === 'on' ? 'tracking on' : `${b} key ${b === '1' ? 'reuse' : 'reuses'}`),
    icon: KeysIcon
  });
  tabs.add({
    id: 'processes',
    label: 'Processes',
    rank: 50,
    component: Processes,
    badge: processesBadge,
    badgeLabel: processesBadgeLabel,
    icon: ProcessesIcon
  });
  return tabs;
}

/** "2 ⚠" → "2 watched, a NaN/Inf alert"; "⚠" → "a NaN/Inf alert". */
export function paramsBadgeLabel(badge: string): string {
  const alert = badge.includes('⚠');
  const n = badge.replace('⚠', '').trim();
  const parts = [n ? `${n} watched` : '', alert ? 'a NaN/Inf alert' : ''].filter(Boolean);
  return parts.join(', ');
}

/** "3 ≠" → "3 processes, compile counts differ"; "1" → "1 process"; "3 ⚠" → "3 processes, 1 stuck". */
export function processesBadgeLabel(badge: string, model: SessionModel | null = null): string {
  return processesBadgeTitle(badge, model);
}
