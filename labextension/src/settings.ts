/**
 * Settings → jaxinspect (schema: labextension/schema/plugin.json), read and applied.
 *
 * - `readSettings` turns what the setting registry holds into checked settings (a value of the
 *   wrong kind falls back to its default, with one line saying so).
 * - `configureParams` is what the `configure` RPC sends a kernel; `KernelSettings` sends it to
 *   every connected kernel when a setting changes, and to each kernel when it says hello (a kernel
 *   started, restarted or loaded later gets the current settings).
 * - `InterestBook` merges what several views of one kernel (the sidebar, the main-area view) ask
 *   it to sample: the kernel samples at the shortest interval any shown view wants.
 */

import type { SessionModel } from './model';
import type { ConfigureParams, ConfigureResult } from './generated/wire';

/** Where the kernel's alerts (recompile storms, buffer growth, NaN in parameters) show. */
export type AlertsShown = 'cell-and-sidebar' | 'sidebar-only';

export const ALERTS_SHOWN: readonly AlertsShown[] = ['cell-and-sidebar', 'sidebar-only'];

export interface IJaxinspectSettings {
  /** Seconds between the Buffers tab's snapshots of the live arrays. */
  buffersInterval: number;
  /** Seconds between the Params tab's samples of the watched trees. */
  paramsInterval: number;
  /** Recompiles of one function that raise a "recompile storm" alert (`config.storm_threshold`). */
  stormThreshold: number;
  /** Start PRNG key tracking when jaxinspect loads in a kernel (`config.track_keys_on_load`). */
  trackKeysOnLoad: boolean;
  /** Alerts printed as one line in the cell's output too (`config.print_alerts`), or sidebar only. */
  alerts: AlertsShown;
  /** Seconds a process waits at one place before the Processes tab says stuck (`config.stuck_after_s`). */
  stuckAfter: number;
}

/** The defaults (also those of plugin.json and of `jaxinspect.config`). */
export const DEFAULT_SETTINGS: Readonly<IJaxinspectSettings> = Object.freeze({
  buffersInterval: 1,
  paramsInterval: 1,
  stormThreshold: 5,
  trackKeysOnLoad: false,
  alerts: 'cell-and-sidebar',
  stuckAfter: 20
});

/** The sampling intervals the kernel accepts (it clamps to this range). */
export const MIN_INTERVAL_S = 0.25;
export const MAX_INTERVAL_S = 60;

/** The range the Settings offer for `stuckAfter` (the kernel takes any number > 0). */
export const MIN_STUCK_AFTER_S = 1;
export const MAX_STUCK_AFTER_S = 3600;

function isNumber(v: unknown): v is number {
  return typeof v === 'number' && Number.isFinite(v);
}

/**
 * Checked settings from the registry's composite (or any object); `problems` has one line per
 * value that was not usable (its default is used instead).
 */
export function readSettings(raw: unknown): {
  settings: IJaxinspectSettings;
  problems: string[];
} {
  const src = (raw && typeof raw === 'object' ? raw : {}) as { [key: string]: unknown };
  const settings: IJaxinspectSettings = { ...DEFAULT_SETTINGS };
  const problems: string[] = [];
  const refuse = (key: keyof IJaxinspectSettings, takes: string) =>
    problems.push(
      `jaxinspect settings: ${key} takes ${takes}, got ${JSON.stringify(src[key])}; ` +
        `using ${JSON.stringify(DEFAULT_SETTINGS[key])}`
    );
  for (const key of ['buffersInterval', 'paramsInterval'] as const) {
    const v = src[key];
    if (v === undefined) {
      continue;
    }
    if (isNumber(v) && v >= MIN_INTERVAL_S && v <= MAX_INTERVAL_S) {
      settings[key] = v;
    } else {
      refuse(key, `a number of seconds from ${MIN_INTERVAL_S} to ${MAX_INTERVAL_S}`);
    }
  }
  if (src.stormThreshold !== undefined) {
    const v = src.stormThreshold;
    if (isNumber(v) && Number.isInteger(v) && v >= 1) {
      settings.stormThreshold = v;
    } else {
      refuse('stormThreshold', 'a whole number ≥ 1');
    }
  }
  if (src.stuckAfter !== undefined) {
    const v = src.stuckAfter;
    if (isNumber(v) && v >= MIN_STUCK_AFTER_S && v <= MAX_STUCK_AFTER_S) {
      settings.stuckAfter = v;
    } else {
      refuse('stuckAfter', `a number of seconds from ${MIN_STUCK_AFTER_S} to ${MAX_STUCK_AFTER_S}`);
    }
  }
  if (src.trackKeysOnLoad !== undefined) {
    if (typeof src.trackKeysOnLoad === 'boolean') {
      settings.trackKeysOnLoad = src.trackKeysOnLoad;
    } else {
      refuse('trackKeysOnLoad', 'true or false');
    }
  }
  if (src.alerts !== undefined) {
    if (ALERTS_SHOWN.includes(src.alerts as AlertsShown)) {
      settings.alerts = src.alerts as AlertsShown;
    } else {
      refuse('alerts', ALERTS_SHOWN.map(a => JSON.stringify(a)).join(' or '));
    }
  }
  return { settings, problems };
}

/** The `configure` RPC params for `settings`: the kernel-side `jaxinspect.config` values. */
export function configureParams(settings: IJaxinspectSettings): ConfigureParams {
  return {
    storm_threshold: settings.stormThreshold,
    print_alerts: settings.alerts === 'cell-and-sidebar',
    track_keys_on_load: settings.trackKeysOnLoad,
    stuck_after_s: settings.stuckAfter
  };
}

/** The kernel's refusals, one line each (empty when everything was applied). */
export function refusals(result: unknown): string[] {
  const refused = (result as Partial<ConfigureResult> | null)?.refused;
  return Array.isArray(refused)
    ? refused.map(r => String(r?.message ?? `jaxinspect: ${String(r?.setting)} was refused`))
    : [];
}

/** The settings that live in the kernel's `jaxinspect.config`, by their `configure` name. */
const KERNEL_SETTINGS: ReadonlyArray<[keyof IJaxinspectSettings, keyof ConfigureParams]> = [
  ['stormThreshold', 'storm_threshold'],
  ['alerts', 'print_alerts'],
  ['trackKeysOnLoad', 'track_keys_on_load'],
  ['stuckAfter', 'stuck_after_s']
];

/** `configureParams(settings)` restricted to the given settings (kernel ones only). */
export function configureSome(
  settings: IJaxinspectSettings,
  keys: Iterable<string>
): ConfigureParams {
  const all = configureParams(settings) as { [key: string]: unknown };
  const wanted = new Set(keys);
  const out: { [key: string]: unknown } = {};
  for (const [setting, name] of KERNEL_SETTINGS) {
    if (wanted.has(setting)) {
      out[name] = all[name];
    }
  }
  return out as ConfigureParams;
}

/** A kernel the settings are sent to: its model (for its hello) and its RPC. */
export interface IConfigurable {
  model: SessionModel;
  request(method: string, params: object): Promise<unknown>;
}

/**
 * Keeps every connected kernel's `jaxinspect.config` in step with Settings → jaxinspect.
 *
 * - A setting the user set (the registry's `user` layer) is sent to each kernel when it says
 *   hello (first connection, restart, `%load_ext` later, a page reload); settings left at their
 *   defaults are not, so `jaxinspect.config.x = ...` run in a notebook is not overwritten by a
 *   reconnecting sidebar.
 * - A setting that changes (including back to its default) is sent to every ready kernel at once.
 *
 * Refusals and failures are reported through `notify` (one line each), never thrown.
 */
export class KernelSettings {
  constructor(options: KernelSettings.IOptions = {}) {
    this._notify = options.notify ?? (msg => console.warn(msg));
    this._settings = { ...DEFAULT_SETTINGS };
  }

  get settings(): Readonly<IJaxinspectSettings> {
    return this._settings;
  }

  /** The settings the user set (sent to every kernel that says hello). */
  get explicit(): ReadonlySet<string> {
    return this._explicit;
  }

  /**
   * New settings: `composite` as the registry merges it, `explicit` the names the user set
   * (`Object.keys(settings.user)`). Each kernel setting that changed (or that the user set, on
   * the first update) is sent to every ready kernel. Returns the checked settings.
   */
  update(composite: unknown, explicit: Iterable<string> = []): IJaxinspectSettings {
    const { settings, problems } = readSettings(composite);
    for (const p of problems) {
      this._notify(p);
    }
    const before = this._settings;
    const first = !this._loaded;
    this._loaded = true;
    this._settings = settings;
    this._explicit = new Set(explicit);
    const changed = KERNEL_SETTINGS.map(([setting]) => setting).filter(
      setting => before[setting] !== settings[setting] || (first && this._explicit.has(setting))
    );
    if (changed.length) {
      for (const kernel of this._kernels.keys()) {
        this._send(kernel, configureSome(settings, changed));
      }
    }
    return settings;
  }

  /** Follow a kernel: configure it now if it is ready, and after each hello. */
  add(kernel: IConfigurable): () => void {
    const onChange = () => {
      const state = this._kernels.get(kernel);
      const session = kernel.model.session;
      if (state && kernel.model.state === 'ready' && session && state.session !== session) {
        state.session = session;
        this._send(kernel, configureSome(this._settings, this._explicit));
      }
    };
    this._kernels.set(kernel, { session: null, onChange });
    kernel.model.stateChanged.connect(onChange);
    onChange();
    return () => this.remove(kernel);
  }

  remove(kernel: IConfigurable): void {
    const state = this._kernels.get(kernel);
    if (state) {
      kernel.model.stateChanged.disconnect(state.onChange);
      this._kernels.delete(kernel);
    }
  }

  /** Resolves when every request sent so far has been answered (for tests and commands). */
  async settled(): Promise<void> {
    await Promise.all(Array.from(this._pending));
  }

  private _send(kernel: IConfigurable, params: ConfigureParams): void {
    if (
      !Object.keys(params).length ||
      kernel.model.isDisposed ||
      kernel.model.state !== 'ready'
    ) {
      return;
    }
    const done = kernel
      .request('configure', params)
      .then(result => {
        for (const line of refusals(result)) {
          this._notify(line);
        }
      })
      .catch(err => {
        const text = String((err as Error)?.message ?? err);
        // e.g. a kernel whose jaxinspect predates `configure`: its own settings stay
        this._notify(
          `jaxinspect: the kernel of ${kernel.model.name || 'a notebook'} did not apply ` +
            `the settings (${text})`
        );
      })
      .finally(() => this._pending.delete(done));
    this._pending.add(done);
  }

  private _notify: (msg: string) => void;
  private _settings: IJaxinspectSettings;
  private _explicit = new Set<string>();
  private _loaded = false;
  private _kernels = new Map<IConfigurable, { session: unknown; onChange: () => void }>();
  private _pending = new Set<Promise<void>>();
}

export namespace KernelSettings {
  export interface IOptions {
    /** Where a refusal or a failed request is said (default: console.warn). */
    notify?(message: string): void;
  }
}

/** A sampler key of the `interest` RPC. */
export type SamplerKey = 'buffers' | 'params';

/**
 * What each view (sidebar, main-area view) wants a kernel to sample, merged: the kernel is sent
 * the shortest positive interval any view wants, 0 when none wants it. A view that stops
 * wanting a sampler no longer turns it off under another view that still shows it.
 */
export class InterestBook<K = object> {
  /**
   * `view` wants `seconds` (0: nothing) of `key` from `kernel`; returns the seconds to send to
   * that kernel now (every request is answered with the merged value: a kernel that restarted
   * is asked again by the views that show it).
   */
  want(kernel: K, view: string, key: SamplerKey, seconds: number): number {
    let views = this._wants.get(kernel);
    if (!views) {
      views = new Map();
      this._wants.set(kernel, views);
    }
    const id = `${key}\u0000${view}`;
    if (seconds > 0) {
      views.set(id, seconds);
    } else {
      views.delete(id);
    }
    return this.merged(kernel, key);
  }

  /** The shortest interval any view wants of `key` from `kernel`; 0 when none. */
  merged(kernel: K, key: SamplerKey): number {
    let best = 0;
    for (const [id, s] of this._wants.get(kernel) ?? []) {
      if (id.startsWith(`${key}\u0000`) && (best === 0 || s < best)) {
        best = s;
      }
    }
    return best;
  }

  /** Forget a view (the main-area view closed): what it wanted no longer counts. */
  forgetView(view: string): void {
    for (const views of this._wants.values()) {
      for (const id of Array.from(views.keys())) {
        if (id.endsWith(`\u0000${view}`)) {
          views.delete(id);
        }
      }
    }
  }

  /** Forget a kernel (its notebook closed). */
  forget(kernel: K): void {
    this._wants.delete(kernel);
  }

  private _wants = new Map<K, Map<string, number>>();
}
