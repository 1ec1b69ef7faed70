/**
 * What the sidebar asks the kernel to sample (`interest` RPC), shared by the tabs whose data the
 * kernel only collects while someone looks (Buffers: `{buffers: seconds}`, Params:
 * `{params: seconds}`). Each tab sends only its own key; the kernel leaves the others unchanged.
 *
 * The decisions are pure functions (`interestFor`, `interestChanges`, `interestOnUnmount`) so they
 * can be tested without React; `useSamplerInterest` is the thin hook the tabs call.
 */

import * as React from 'react';

import type { SessionModel } from '../model';
import type { ISession } from '../protocol';
import type { IInterest, IPanelActions, ITabProps } from './tabs';

/** Sampling intervals offered, in seconds. */
export const INTERVALS: readonly number[] = [0.5, 1, 2, 5];
/** The interval used until the user picks another. */
export const DEFAULT_INTERVAL = 1;

/** A sampler the kernel runs for a tab: a key of the `interest` params. */
export type InterestKey = keyof IInterest;

/** The `interest` RPC params for `interest`: only the keys it sets, as numbers of seconds. */
export function interestParams(interest: IInterest): { [key: string]: number } {
  const params: { [key: string]: number } = {};
  for (const [key, seconds] of Object.entries(interest)) {
    if (typeof seconds === 'number' && Number.isFinite(seconds)) {
      params[key] = Math.max(0, seconds);
    }
  }
  return params;
}

/** Seconds between samples the tab wants from `model`'s kernel now; 0 = none. */
export function interestFor(
  model: SessionModel | null,
  visible: boolean,
  interval: number
): number {
  if (!model || model.isDisposed || model.state !== 'ready' || !visible) {
    return 0;
  }
  return interval > 0 ? interval : 0;
}

/** What the tab last asked of a kernel. */
export interface IInterestSent {
  model: SessionModel;
  /** The `hello` session it was asked in; a new hello means a fresh kernel-side state. */
  session: ISession | null;
  seconds: number;
}

/** One `interest` request to send: `{<key>: seconds}` to `model`'s kernel. */
export interface IInterestSend {
  model: SessionModel;
  seconds: number;
}

/** A kernel that can still be told something. */
function reachable(model: SessionModel): boolean {
  return !model.isDisposed && model.state === 'ready';
}

/**
 * The requests to send when the wanted interest becomes (`model`, `session`, `seconds`), given
 * what was sent before; and what counts as sent afterwards. Nothing is resent while nothing
 * changed, a notebook left behind gets a 0 (if its kernel is still connected), and a kernel that
 * said hello again (restart, reload) is asked again.
 */
export function interestChanges(
  prev: IInterestSent | null,
  model: SessionModel | null,
  session: ISession | null,
  seconds: number
): { sends: IInterestSend[]; next: IInterestSent | null } {
  const sends: IInterestSend[] = [];
  if (prev && prev.seconds > 0 && prev.model !== model && reachable(prev.model)) {
    sends.push({ model: prev.model, seconds: 0 });
  }
  if (model) {
    const same = prev !== null && prev.model === model;
    if (seconds > 0) {
      if (!same || prev!.session !== session || prev!.seconds !== seconds) {
        sends.push({ model, seconds });
      }
    } else if (same && prev!.seconds > 0 && prev!.session === session && reachable(model)) {
      sends.push({ model, seconds: 0 });
    }
  }
  return { sends, next: model ? { model, session, seconds } : null };
}

/** The requests to send when the tab goes away: a 0 to a kernel still sampling for it. */
export function interestOnUnmount(prev: IInterestSent | null): IInterestSend[] {
  return prev && prev.seconds > 0 && reachable(prev.model)
    ? [{ model: prev.model, seconds: 0 }]
    : [];
}

/** Send `sends` as `{[key]: seconds}` through the panel's `setInterest` action, if any. */
export function sendInterest(
  actions: IPanelActions,
  key: InterestKey,
  sends: readonly IInterestSend[]
): void {
  for (const s of sends) {
    actions.setInterest?.({ [key]: s.seconds }, s.model);
  }
}

/**
 * Keep the kernel's `key` sampler in step with what a tab shows: `interval` seconds while
 * `model` is ready and `visible`, 0 otherwise and when the tab unmounts. Requests go out only when
 * the notebook, its kernel session or the wanted interval changes: the panel's timer and every
 * batch re-render the tab without sending anything.
 */
export function useSamplerInterest(
  key: InterestKey,
  model: SessionModel | null,
  visible: boolean,
  interval: number,
  actions: IPanelActions
): void {
  const seconds = interestFor(model, visible, interval);
  const session = model?.session ?? null;
  const actionsRef = React.useRef(actions);
  actionsRef.current = actions;
  const sent = React.useRef<IInterestSent | null>(null);
  React.useEffect(() => {
    const { sends, next } = interestChanges(sent.current, model, session, seconds);
    sent.current = next;
    sendInterest(actionsRef.current, key, sends);
  }, [model, session, seconds]);
  React.useEffect(
    () => () => {
      sendInterest(actionsRef.current, key, interestOnUnmount(sent.current));
      sent.current = null;
    },
    []
  );
}

/** The interval each sampled tab showed last, kept while it is switched away. */
const lastIntervals = new Map<InterestKey, number>();

/** Each sampled tab's starting interval from Settings → jaxinspect (set by the plugin). */
const configuredIntervals = new Map<InterestKey, number>();
const configuredListeners = new Set<() => void>();

/** The interval a sampled tab starts at: the configured one, else `DEFAULT_INTERVAL`. */
export function configuredInterval(key: InterestKey): number {
  return configuredIntervals.get(key) ?? DEFAULT_INTERVAL;
}

/**
 * Settings → jaxinspect changed a tab's interval: it replaces what the tab was showing (in every
 * view, at once), and is where the tab starts from now on.
 */
export function setConfiguredInterval(key: InterestKey, seconds: number): void {
  if (!(seconds > 0) || configuredIntervals.get(key) === seconds) {
    return;
  }
  configuredIntervals.set(key, seconds);
  lastIntervals.delete(key);
  for (const listener of Array.from(configuredListeners)) {
    listener();
  }
}

/**
 * A sampled tab's interval state: remembered per tab, and kept in step with the kernel's sampler
 * (`{<key>: seconds}` while shown and ready, `{<key>: 0}` when hidden, left or unmounted).
 */
export function useSampledInterval(
  key: InterestKey,
  props: ITabProps
): [number, (seconds: number) => void] {
  const [interval, setIntervalS] = React.useState(
    lastIntervals.get(key) ?? configuredInterval(key)
  );
  React.useEffect(() => {
    const onConfigured = () => setIntervalS(lastIntervals.get(key) ?? configuredInterval(key));
    configuredListeners.add(onConfigured);
    return () => {
      configuredListeners.delete(onConfigured);
    };
  }, [key]);
  useSamplerInterest(key, props.model, props.visible ?? true, interval, props.actions);
  return [
    interval,
    (seconds: number) => {
      lastIntervals.set(key, seconds);
      setIntervalS(seconds);
    }
  ];
}

/**
 * "every 1 s" for an effective sampling interval (two significant digits: the kernel stretches
 * it after a costly sample, e.g. "every 37 s"); '' without one.
 */
export function intervalText(intervalS: number | null | undefined): string {
  return typeof intervalS === 'number' && Number.isFinite(intervalS) && intervalS > 0
    ? `every ${Number(intervalS.toPrecision(2))} s`
    : '';
}

/** The "sample every N s" select of a sampled tab's footer. */
export function IntervalSelect(props: {
  testId: string;
  className: string;
  interval: number;
  onInterval(seconds: number): void;
}): React.ReactElement {
  const { interval, onInterval } = props;
  const options = INTERVALS.includes(interval) ? INTERVALS : [...INTERVALS, interval];
  return (
    <label className={props.className}>
      {'sample every '}
      <select
        data-testid={props.testId}
        value={String(interval)}
        onChange={ev => onInterval(Number(ev.currentTarget.value))}
      >
        {options.map(s => (
          <option key={s} value={String(s)}>
            {`${s} s`}
          </option>
        ))}
      </select>
    </label>
  );
}
