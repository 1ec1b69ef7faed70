/**
 * The Buffers tab's effect wiring: the `interest` requests the stateful wrapper sends as the
 * panel re-renders it. React's hooks are replaced by a tiny synchronous hook runtime (no DOM here),
 * which compares effect dependencies the way React does.
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

import { SessionModel } from '../src/model';
import { Buffers } from '../src/views/Buffers';
import type { IBuffersViewProps } from '../src/views/Buffers';
import type { IInterest, IPanelActions, ITabProps } from '../src/views/tabs';
import { batch, buffersRecord, hello } from './fixtures';

/** Render the tab once (as the panel does on every update), then run its changed effects. */
function render(props: ITabProps): IBuffersViewProps {
  h.rt.slot = 0;
  h.rt.effect = 0;
  const el = Buffers(props) as unknown as { props: IBuffersViewProps };
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

describe('Buffers tab interest', () => {
  let calls: [number, SessionModel | null | undefined][];
  let actions: IPanelActions;
  const names = new Map<SessionModel, string>();
  const log = () => calls.splice(0).map(([s, m]) => [m ? names.get(m) : m, s]);

  beforeEach(() => {
    h.reset();
    calls = [];
    actions = {
      loadExtension: () => undefined,
      reconnect: () => undefined,
      setInterest: (interest: IInterest, model?: SessionModel | null) => {
        calls.push([interest.buffers, model]);
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
      a.applyBatch(batch(i + 1, [buffersRecord({ seq: i + 1 })]));
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

    view.onInterval(5);
    view = render({ model: a, now: 0, actions });
    expect(view.interval).toBe(5);
    expect(log()).toEqual([['a', 5]]);

    render({ model: a, now: 0, actions, visible: false });
    expect(log()).toEqual([['a', 0]]);
    render({ model: a, now: 0, actions, visible: false });
    expect(log()).toEqual([]);
    render({ model: a, now: 0, actions, visible: true });
    expect(log()).toEqual([['a', 5]]);

    a.setState('connecting', 'The kernel is restarting.');
    render({ model: a, now: 0, actions });
    expect(log()).toEqual([]);
    a.applyHello(hello());
    render({ model: a, now: 0, actions });
    expect(log()).toEqual([['a', 5]]);

    render({ model: b, now: 0, actions });
    expect(log()).toEqual([
      ['a', 0],
      ['b', 5]
    ]);
    render({ model: null, now: 0, actions });
    expect(log()).toEqual([['b', 0]]);
    unmount();
    expect(log()).toEqual([]);

    // a remount keeps the interval picked last
    render({ model: a, now: 0, actions });
    expect(log()).toEqual([['a', 5]]);
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
});
