/** The built-in tabs, in order. Later tabs (Compiles, Buffers, Params, Keys) add a line here. */

import { Overview } from './Overview';
import { TabRegistry } from './tabs';

export function createDefaultTabs(): TabRegistry {
  const tabs = new TabRegistry();
  tabs.add({ id: 'overview', label: 'Overview', rank: 0, component: Overview });
  return tabs;
}
