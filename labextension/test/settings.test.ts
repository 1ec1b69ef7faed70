import * as fs from 'fs';
import * as path from 'path';

import { describe, expect, it } from 'vitest';

import { SessionModel } from '../src/model';
import {
  configureParams,
  configureSome,
  DEFAULT_SETTINGS,
  InterestBook,
  KernelSettings,
  readSettings,
  refusals
} from '../src/settings';
import { hello } from './fixtures';

const SCHEMA = JSON.parse(
  fs.readFileSync(path.join(__dirname, '..', 'schema', 'plugin.json'), 'utf-8')
);

/** A kernel as KernelSettings sees it: a real model, and a request that records and answers. */
function kernel(name: string, answer?: (params: any) => unknown) {
  const model = new SessionModel({ name });
  const sent: any[] = [];
  return {
    model,
    sent,
    request: async (method: string, params: any) => {
      sent.push({ method, params });
      if (answer) {
        return answer(params);
      }
      return { applied: params, refused: [], tracking: false };
    },
    hello: (pid = 1) =>
      model.applyHello(hello({ session: { ...hello().session, pid } }))
  };
}

describe('the settings schema', () => {
  it('has the defaults readSettings uses, for exactly the settings it reads', () => {
    const defaults = Object.fromEntries(
      Object.entries(SCHEMA.properties).map(([k, v]: [string, any]) => [k, v.default])
    );
    expect(defaults).toEqual({ ...DEFAULT_SETTINGS });
    expect(readSettings(defaults)).toEqual({ settings: DEFAULT_SETTINGS, problems: [] });
    expect(SCHEMA.properties.alerts.oneOf.map((o: any) => o.const)).toEqual(['cell-and-sidebar', 'sidebar-only']);
    expect(SCHEMA.additionalProperties).toBe(false);
  });
});

describe('readSettings', () => {
  it('keeps good values and replaces bad ones by their defaults, one line each', () => {
    const { settings, problems } = readSettings({
      buffersInterval: 2.5,
      paramsInterval: 0.01,
      stormThreshold: 2.5,
      trackKeysOnLoad: 'yes',
      alerts: 'sidebar-only',
      stuckAfter: 0
    });
    expect(settings).toEqual({
      buffersInterval: 2.5,
      paramsInterval: 1,
      stormThreshold: 5,
      trackKeysOnLoad: false,
      alerts: 'sidebar-only',
      stuckAfter: 20
    });
    expect(problems).toEqual([
      'jaxinspect settings: paramsInterval takes a number of seconds from 0.25 to 60, got 0.01; using 1',
      'jaxinspect settings: stormThreshold takes a whole number ≥ 1, got 2.5; using 5',
      'jaxinspect settings: stuckAfter takes a number of seconds from 1 to 3600, got 0; using 20',
      'jaxinspect settings: trackKeysOnLoad takes true or false, got "yes"; using false'
    ]);
    expect(readSettings({ stuckAfter: 5 }).settings.stuckAfter).toBe(5);
    expect(readSettings(null).settings).toEqual(DEFAULT_SETTINGS);
  });

  it('maps onto the kernel config', () => {
    expect(configureParams({ ...DEFAULT_SETTINGS, stormThreshold: 9, alerts: 'sidebar-only' })).toEqual({
      storm_threshold: 9,
      print_alerts: false,
      track_keys_on_load: false,
      stuck_after_s: 20
    });
    expect(configureSome({ ...DEFAULT_SETTINGS, stuckAfter: 5 }, ['stuckAfter'])).toEqual({ stuck_after_s: 5 });
    expect(configureParams(DEFAULT_SETTINGS).print_alerts).toBe(true);
    expect(refusals({ applied: {}, refused: [{ setting: 'x', message: 'one line' }] })).toEqual([
      'one line'
    ]);
    expect(refusals(undefined)).toEqual([]);
  });
});

describe('KernelSettings', () => {
  it('sends what the user set to each kernel that says hello, and changes to every ready kernel', async () => {
    const notes: string[] = [];
    const ks = new KernelSettings({ notify: m => notes.push(m) });
    const a = kernel('a.ipynb');
    ks.add(a);
    a.hello();
    // nothing set by the user yet: a kernel's own config (set in its notebook) is left alone
    expect(a.sent).toEqual([]);
    // the settings load with a user value: sent to the ready kernel
    ks.update({ stormThreshold: 9 }, ['stormThreshold']);
    expect(a.sent).toEqual([{ method: 'configure', params: { storm_threshold: 9 } }]);
    // a kernel that connects later gets the current settings on its hello
    const b = kernel('b.ipynb');
    ks.add(b);
    expect(b.sent).toEqual([]); // not ready yet
    b.hello();
    expect(b.sent).toEqual([{ method: 'configure', params: { storm_threshold: 9 } }]);
    // batches re-emit stateChanged without a new hello: nothing resent
    b.model.touch();
    expect(b.sent.length).toBe(1);
    // a changed setting reaches every kernel at once, only what changed
    ks.update({ stormThreshold: 9, alerts: 'sidebar-only' }, ['stormThreshold', 'alerts']);
    expect(a.sent[1]).toEqual({ method: 'configure', params: { print_alerts: false } });
    expect(b.sent[1]).toEqual({ method: 'configure', params: { print_alerts: false } });
    // an interval is not a kernel config value: no configure request for it
    ks.update({ stormThreshold: 9, alerts: 'sidebar-only', buffersInterval: 5 }, [
      'stormThreshold',
      'alerts',
      'buffersInterval'
    ]);
    expect(a.sent.length).toBe(2);
    expect(ks.settings.buffersInterval).toBe(5);
    // back to a default: sent too
    ks.update({}, []);
    expect(a.sent[2].params).toEqual({ storm_threshold: 5, print_alerts: true });
    // a restarted kernel (a new hello session) is configured again with what the user set
    ks.update({ trackKeysOnLoad: true }, ['trackKeysOnLoad']);
    const before = a.sent.length;
    a.hello(2);
    expect(a.sent.slice(before)).toEqual([
      { method: 'configure', params: { track_keys_on_load: true } }
    ]);
    await ks.settled();
    expect(notes).toEqual([]);
  });

  it('says each refusal and each failed request in one line, and forgets removed kernels', async () => {
    const notes: string[] = [];
    const ks = new KernelSettings({ notify: m => notes.push(m) });
    const refusing = kernel('r.ipynb', () => ({
      applied: {},
      refused: [
        {
          setting: 'storm_threshold',
          message: 'jaxinspect: config.storm_threshold takes a whole number ≥ 1, got 0; kept 5'
        }
      ],
      tracking: false
    }));
    const old = kernel('old.ipynb', () => {
      throw new Error('unknown method configure');
    });
    const gone = kernel('gone.ipynb');
    ks.add(refusing);
    ks.add(old);
    const stop = ks.add(gone);
    for (const k of [refusing, old, gone]) {
      k.hello();
    }
    stop();
    ks.update({ stormThreshold: 3 }, ['stormThreshold']);
    await ks.settled();
    expect(gone.sent).toEqual([]);
    expect(notes).toEqual([
      'jaxinspect: config.storm_threshold takes a whole number ≥ 1, got 0; kept 5',
      'jaxinspect: the kernel of old.ipynb did not apply the settings (unknown method configure)'
    ]);
    // a disposed model is not sent to
    refusing.model.dispose();
    ks.update({ stormThreshold: 4 }, ['stormThreshold']);
    expect(refusing.sent.length).toBe(1);
  });
});

describe('InterestBook', () => {
  it('samples at the shortest interval a shown view wants, and stops when none wants it', () => {
    const book = new InterestBook<string>();
    expect(book.want('k', 'sidebar', 'buffers', 2)).toBe(2);
    expect(book.want('k', 'main', 'buffers', 0.5)).toBe(0.5);
    // the sidebar hides its Buffers tab: the main view still shows it
    expect(book.want('k', 'sidebar', 'buffers', 0)).toBe(0.5);
    // params are their own sampler
    expect(book.want('k', 'sidebar', 'params', 1)).toBe(1);
    expect(book.merged('k', 'buffers')).toBe(0.5);
    expect(book.want('k', 'main', 'buffers', 0)).toBe(0);
    // a closed view's wishes stop counting; another kernel is independent
    book.want('k', 'main', 'params', 0.25);
    expect(book.merged('k', 'params')).toBe(0.25);
    book.forgetView('main');
    expect(book.merged('k', 'params')).toBe(1);
    expect(book.want('other', 'main', 'params', 5)).toBe(5);
    book.forget('k');
    expect(book.merged('k', 'params')).toBe(0);
    expect(book.merged('other', 'params')).toBe(5);
  });
});
