/** The built-in tabs, in order. Later tabs add a line here. */

import { Buffers, buffersBadge } from './Buffers';
import { Compiles, compilesBadge } from './Compiles';
import { Keys, keysBadge } from './Keys';
import { Overview } from './Overview';
import { Params, paramsBadge } from './Params';
import { Processes, processesBadge } from './Processes';
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
  tabs.add({
    id: 'buffers',
    label: 'Buffers',
    rank: 20,
    component: Buffers,
    badge: buffersBadge
  });
  tabs.add({
    id: 'params',
    label: 'Params',
    rank: 30,
    component: Params,
    badge: paramsBadge
  });
  tabs.add({
    id: 'keys',
    label: 'Keys',
    rank: 40,
    component: Keys,
    badge: keysBadge
  });
  tabs.add({
    id: 'processes',
    label: 'Processes',
    rank: 50,
    component: Processes,
    badge: processesBadge
  });
  return tabs;
}
