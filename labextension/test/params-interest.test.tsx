/**
 * The Params tab's effect wiring: the `interest` requests (`{params: seconds}`, and only that key)
 * the stateful wrapper sends as the panel re-renders it. React's hooks are replaced by a tiny
 * synchronous hook runtime (no DOM here), which compares effect dependencies the way React does.
 */

import { beforeEach, describe, expect, it, vi } from 'vitest';

const h = vi.hoisted(() => {
  interface IEffect {
    deps: readonly unknown[] | undefined;
    cleanup: (() => void) | void;
  }
  const rt = {
    slots: [] as unknown[],
    slot: 0,
    effects: [] as IEffect[],
    effect: 0,
    queue: [] as (() => void)[]
  };
  const hooks = {
    useState<T>(init: T): [T, (v: T) => void] {
      const i = rt.slot++;
      if (!(i in rt.slots)) {
        rt.slots[i] = init;
      }
      return [rt.slots[i] as T, (v: T) => (rt.slots[i] = v)];
    },
    useRef<T>(init: T): { current: T } {
      const i = rt.slot++;
      if (!(i in rt.slots)) {
        rt.slots[i] = { current: init };
      }
      return rt.slots[i] as { current: T };
    },
    useEffect(fn: () => (() => void) | void, deps?: readonly unknown[]): void {
      const i = rt.effect++;
      const prev = rt.effects[i];
      const changed =
        !prev ||
        !deps ||
        !prev.deps ||
        deps.length !== prev.deps.length ||
        deps.some((d, k) => !Object.is(d, prev.deps![k]));
      if (changed) {
        rt.queue.push(() => {
          if (prev && typeof prev.cleanup === 'function') {
            prev.cleanup();
          }
          rt.effects[i] = { deps, cleanup: fn() };
        });
      }
    }
  };
  return {
    rt,
    hooks,
    reset(): void {
      rt.slots = [];
      rt.effects = [];
      rt.queue = [];
    }
  };
});

vi.mock('react', async importOriginal => {
  const actual = await importOriginal<typeof import('react')>();
  const mocked = { ...actual, ...h.hooks };
  return { ...mocked, default: mocked };
});

import type { ReactElement } from 'react';

import { SessionModel } from '../src/model';
import { Buffers } from '../src/views/Buffers';
import { Params } from '../src/views/Params';
import type { IParamsViewProps } from '../src/views/Params';
import type { IInterest, IPanelActions, ITabProps } from '../src/views/tabs';
import { batch, hello, paramsWatch } from './fixtures';

/** Render a tab once (as the panel does on every update), then run its changed effects. */
function render(
  props: ITabProps,
  tab: (p: ITabProps) => ReactElement = Params
): IParamsViewProps {
  h.rt.slot = 0;
  h.rt.effect = 0;
  const el = tab(props) as unknown as { props: IParamsViewProps };
  const queue = h.rt.queue;
  h.rt.queue = [];
  queue.forEach(run => run());
  return el.props;
}

function unmount(): void {
  for (const e of h.rt.effects) {
    if (e && typeof e.cleanup === 'function') {
      e.cleanup();
    }
  }
  h.reset();
}

function ready(): SessionModel {
  const model = new SessionModel();
  model.applyHello(hello());
  return model;
}

describe('Params tab interest', () => {
  let calls: [IInterest, SessionModel | null | undefined][];
  let actions: IPanelActions;
  const names = new Map<SessionModel, string>();
  /** The `params` seconds sent, by notebook; any other key fails the test. */
  const log = () =>
    calls.splice(0).map(([interest, m]) => {
      expect(Object.keys(interest)).toEqual(['params']);
      return [m ? names.get(m) : m, interest.params];
    });

  beforeEach(() => {
    h.reset();
    calls = [];
    actions = {
      loadExtension: () => undefined,
      reconnect: () => undefined,
      setInterest: (interest: IInterest, model?: SessionModel | null) => {
        calls.push([interest, model]);
      }
    };
  });

  it('asks on mount, not on re-renders, and stops on unmount', () => {
    const a = ready();
    names.set(a, 'a');
    render({ model: a, now: 0, actions, visible: true });
    expect(log()).toEqual([['a', 1]]);
    // the panel's timer and batches re-render with new `now` and new records
    for (let i = 0; i < 5; i++) {
      a.applyBatch(batch(i + 1, [paramsWatch({ seq: i + 1 })]));
      render({ model: a, now: i * 1000, actions, visible: true });
    }
    expect(log()).toEqual([]);
    unmount();
    expect(log()).toEqual([['a', 0]]);
  });

  it('follows the interval, the sidebar visibility, restarts and notebook switches', () => {
    const a = ready();
    const b = ready();
    names.set(a, 'a');
    names.set(b, 'b');
    let view = render({ model: a, now: 0, actions });
    expect(log()).toEqual([['a', 1]]);

    view.onInterval(0.5);
    view = render({ model: a, now: 0, actions });
    expect(view.interval).toBe(0.5);
    expect(log()).toEqual([['a', 0.5]]);

    render({ model: a, now: 0, actions, visible: false });
    expect(log()).toEqual([['a', 0]]);
    render({ model: a, now: 0, actions, visible: false });
    expect(log()).toEqual([]);
    render({ model: a, now: 0, actions, visible: true });
    expect(log()).toEqual([['a', 0.5]]);

    a.setState('connecting', 'The kernel is restarting.');
    render({ model: a, now: 0, actions });
    expect(log()).toEqual([]);
    a.applyHello(hello());
    render({ model: a, now: 0, actions });
    expect(log()).toEqual([['a', 0.5]]);

    render({ model: b, now: 0, actions });
    expect(log()).toEqual([
      ['a', 0],
      ['b', 0.5]
    ]);
    render({ model: null, now: 0, actions });
    expect(log()).toEqual([['b', 0]]);
    unmount();
    expect(log()).toEqual([]);

    // a remount keeps the interval picked last
    render({ model: a, now: 0, actions });
    expect(log()).toEqual([['a', 0.5]]);
    unmount();
    expect(log()).toEqual([['a', 0]]);
  });

  it('sends nothing without the action or a ready kernel', () => {
    const model = new SessionModel();
    model.setState('not-loaded');
    render({ model, now: 0, actions });
    unmount();
    expect(log()).toEqual([]);
    const bare: IPanelActions = { loadExtension: () => undefined, reconnect: () => undefined };
    render({ model: ready(), now: 0, actions: bare });
    unmount();
  });

  it('switching from Buffers to Params: each tab sends only its own key', () => {
    const a = ready();
    // pick 2 s on the Params tab first (the pick outlives the tab)
    render({ model: a, now: 0, actions }, Params).onInterval(2);
    render({ model: a, now: 0, actions }, Params);
    unmount();
    calls.splice(0);

    render({ model: a, now: 0, actions }, Buffers);
    unmount(); // the panel unmounts the Buffers tab before mounting Params
    render({ model: a, now: 0, actions }, Params);
    expect(calls.splice(0).map(([interest, m]) => [interest, m === a])).toEqual([
      [{ buffers: 1 }, true],
      [{ buffers: 0 }, true],
      [{ params: 2 }, true]
    ]);
    unmount();
    expect(calls.splice(0).map(([interest]) => interest)).toEqual([{ params: 0 }]);
  });
});
