/** The built-in tabs, in order. Later tabs (Compiles, Buffers, Params, Keys) add a line here. */

import { Compiles, compilesBadge } from './Compiles';
import { Overview } from './Overview';
import { TabRegistry } from './tabs';

export function createDefaultTabs(): TabRegistry {
  const tabs = new TabRegistry();
  tabs.add({ id: 'overview', label: 'Overview', rank: 0, component: Overview });
  tabs.add({
    id: 'compiles',
    label: 'Compiles',
    rank: 10,
    component: Compiles,
    badge: compilesBadge
  });
  return tabs;
}
