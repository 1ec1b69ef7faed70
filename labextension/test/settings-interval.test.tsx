/**
 * Settings → jaxinspect's sampling intervals reach the sampled tabs: a tab starts at the
 * configured interval, a changed setting replaces what a shown tab samples at once (the kernel is
 * asked for the new interval), and the tab's own menu still changes it for the session. Hooks run
 * on the same tiny synchronous runtime as buffers-interest.test.tsx.
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
import {
  configuredInterval,
  DEFAULT_INTERVAL,
  setConfiguredInterval,
  useSampledInterval
} from '../src/views/interest';
import type { IInterest, IPanelActions } from '../src/views/tabs';
import { hello } from './fixtures';

describe('configured sampling intervals', () => {
  let sent: IInterest[];
  let actions: IPanelActions;
  let model: SessionModel;

  /** Render a hook-only "tab" once, then run its changed effects; returns [interval, set]. */
  function render(key: 'buffers' | 'params'): [number, (s: number) => void] {
    h.rt.slot = 0;
    h.rt.effect = 0;
    const out = useSampledInterval(key, { model, now: 0, actions, visible: true });
    const queue = h.rt.queue;
    h.rt.queue = [];
    queue.forEach(run => run());
    return out;
  }

  beforeEach(() => {
    h.reset();
    sent = [];
    actions = {
      loadExtension: () => undefined,
      reconnect: () => undefined,
      setInterest: (interest: IInterest) => {
        sent.push(interest);
      }
    };
    model = new SessionModel();
    model.applyHello(hello());
  });

  it('starts a tab at the configured interval and applies a change live', () => {
    expect(configuredInterval('params')).toBe(DEFAULT_INTERVAL);
    setConfiguredInterval('params', 3);
    expect(render('params')[0]).toBe(3);
    expect(sent).toEqual([{ params: 3 }]);
    // Settings → jaxinspect changes while the tab is shown: it samples at the new interval
    setConfiguredInterval('params', 10);
    expect(render('params')[0]).toBe(10);
    expect(sent).toEqual([{ params: 3 }, { params: 10 }]);
    // the tab's menu picks another for this session ...
    render('params')[1](0.5);
    expect(render('params')[0]).toBe(0.5);
    expect(sent.at(-1)).toEqual({ params: 0.5 });
    // ... until the setting changes again; an unchanged or invalid setting changes nothing
    setConfiguredInterval('params', 10);
    setConfiguredInterval('params', 0);
    expect(render('params')[0]).toBe(0.5);
    setConfiguredInterval('params', 2);
    expect(render('params')[0]).toBe(2);
    expect(sent.at(-1)).toEqual({ params: 2 });
    // each tab has its own setting
    expect(configuredInterval('buffers')).toBe(DEFAULT_INTERVAL);
  });
});
