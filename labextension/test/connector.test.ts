import { afterEach, describe, expect, it } from 'vitest';

import { KernelConnector } from '../src/connector';
import { SessionModel } from '../src/model';
import { PROTOCOL_VERSION } from '../src/protocol';
import { FakeKernel, FakeSessionContext, settle } from './fakes';
import { batch, status } from './fixtures';

const connectors: KernelConnector[] = [];

function setup(kernel: FakeKernel | null) {
  const sessionContext = new FakeSessionContext(kernel);
  const model = new SessionModel({ name: 'nb.ipynb' });
  const connector = new KernelConnector({ sessionContext, model, subshellTimeoutMs: 1000 });
  connectors.push(connector);
  return { sessionContext, model, connector };
}

afterEach(() => {
  while (connectors.length) {
    connectors.pop()!.dispose();
  }
});

describe('KernelConnector', () => {
  it('opens both comms and becomes ready on hello', async () => {
    const kernel = new FakeKernel('loaded');
    const { model } = setup(kernel);
    expect(model.state).toBe('connecting');
    await settle();
    const push = kernel.opened('jaxinspect');
    const rpc = kernel.opened('jaxinspect.rpc');
    expect(push).toHaveLength(1);
    expect(rpc).toHaveLength(1);
    expect(push[0].opened).toMatchObject({ v: PROTOCOL_VERSION, type: 'open' });
    // one id per sidebar connection, the same on both comms (the kernel links them by it)
    expect(push[0].opened.client).toMatch(/^jupyterlab-sidebar\/[a-z0-9]+$/);
    expect(rpc[0].opened.client).toBe(push[0].opened.client);
    expect(model.state).toBe('ready');
    expect(model.env?.jax_version).toBe('0.12.0.1');
    expect(kernel.targets.has('jaxinspect')).toBe(true);
  });

  it('applies batches pushed after hello', async () => {
    const kernel = new FakeKernel('loaded');
    const { model } = setup(kernel);
    await settle();
    kernel.opened('jaxinspect')[0].receive(batch(3, [status({ seq: 9, busy: true })]));
    expect(model.status?.seq).toBe(9);
    expect(model.status?.busy).toBe(true);
  });

  it('is not-loaded when the kernel closes the comm without hello', async () => {
    const kernel = new FakeKernel('absent');
    const { model } = setup(kernel);
    await settle();
    expect(model.state).toBe('not-loaded');
    // No close is sent back for comms the kernel already closed.
    expect(kernel.comms.some(c => c.closedByClient)).toBe(false);
    // Nor is the rpc comm dropped before the kernel's own close arrives.
    expect(kernel.commNotFound).toBe(0);
  });

  it('does not retry on busy→idle while not loaded', async () => {
    const kernel = new FakeKernel('absent');
    const { model, sessionContext } = setup(kernel);
    await settle();
    const before = kernel.comms.length;
    sessionContext.setStatus('busy');
    sessionContext.setStatus('idle');
    await settle();
    expect(kernel.comms.length).toBe(before);
    expect(model.state).toBe('not-loaded');
  });

  it('reconnects when the kernel announces %load_ext', async () => {
    const kernel = new FakeKernel('absent');
    const { model } = setup(kernel);
    await settle();
    expect(model.state).toBe('not-loaded');
    kernel.mode = 'loaded';
    await kernel.announce();
    await settle();
    expect(model.state).toBe('ready');
    expect(kernel.opened('jaxinspect')).toHaveLength(2);
  });

  it('shows a version mismatch from an error message', async () => {
    const kernel = new FakeKernel('mismatch');
    const { model } = setup(kernel);
    await settle();
    expect(model.state).toBe('version-mismatch');
    expect(model.message).toBe('kernel says: versions differ');
    expect(kernel.commNotFound).toBe(0);
    expect(kernel.comms.some(c => c.closedByClient)).toBe(false);
  });

  it('shows a version mismatch when the kernel speaks another v', async () => {
    const kernel = new FakeKernel('silent');
    const { model } = setup(kernel);
    await settle();
    kernel.opened('jaxinspect')[0].receive({ v: 2, type: 'hello' });
    expect(model.state).toBe('version-mismatch');
    expect(model.message).toContain('v2');
    expect(model.message).toContain('restart the kernel');
  });

  it('shows a version mismatch from an announce with another v', async () => {
    const kernel = new FakeKernel('absent');
    const { model } = setup(kernel);
    await settle();
    await kernel.announce(7);
    expect(model.state).toBe('version-mismatch');
    expect(model.message).toContain('v7');
  });

  it('goes to not-loaded on goodbye', async () => {
    const kernel = new FakeKernel('loaded');
    const { model } = setup(kernel);
    await settle();
    const push = kernel.opened('jaxinspect')[0];
    push.receive({ v: PROTOCOL_VERSION, type: 'goodbye', reason: 'unloaded' });
    push.serverClose();
    kernel.opened('jaxinspect.rpc')[0].serverClose();
    expect(model.state).toBe('not-loaded');
    expect(model.env).toBeNull();
    expect(kernel.commNotFound).toBe(0);
    expect(kernel.comms.some(c => c.closedByClient)).toBe(false);
  });

  it('resets on restart and reconnects once the kernel is idle again', async () => {
    const kernel = new FakeKernel('loaded');
    const { model, sessionContext } = setup(kernel);
    await settle();
    expect(model.state).toBe('ready');
    sessionContext.setStatus('restarting');
    expect(model.state).toBe('connecting');
    expect(model.env).toBeNull();
    sessionContext.setStatus('starting');
    await settle();
    expect(kernel.opened('jaxinspect')).toHaveLength(1);
    sessionContext.setStatus('idle');
    await settle();
    expect(kernel.opened('jaxinspect')).toHaveLength(2);
    expect(model.state).toBe('ready');
  });

  it('shows a dead kernel', async () => {
    const kernel = new FakeKernel('loaded');
    const { model, sessionContext } = setup(kernel);
    await settle();
    sessionContext.setStatus('dead');
    expect(model.state).toBe('dead');
  });

  it('follows kernel changes and a missing kernel', async () => {
    const k1 = new FakeKernel('loaded');
    const { model, sessionContext } = setup(k1);
    await settle();
    sessionContext.setKernel(null);
    expect(model.state).toBe('no-kernel');
    expect(k1.targets.has('jaxinspect')).toBe(false);
    const k2 = new FakeKernel('absent');
    sessionContext.setKernel(k2);
    await settle();
    expect(model.state).toBe('not-loaded');
    expect(k2.targets.has('jaxinspect')).toBe(true);
  });

  it('answers rpc requests by id', async () => {
    const kernel = new FakeKernel('loaded');
    const { connector } = setup(kernel);
    // Requested before the comms are open: waits for them.
    const result = await connector.request('ping', { x: 1 });
    expect(result).toEqual({ method: 'ping' });
    const rpc = kernel.opened('jaxinspect.rpc')[0];
    expect(rpc.sent[0]).toMatchObject({ v: PROTOCOL_VERSION, type: 'request', method: 'ping', params: { x: 1 } });
  });

  /** A connector pinging at most every `pingMs`; `pings()` counts the pings sent after `waitMs`. */
  async function pinging(kernel: FakeKernel, pingMs: number, waitMs: number) {
    const sessionContext = new FakeSessionContext(kernel);
    const model = new SessionModel({ name: 'nb.ipynb' });
    const connector = new KernelConnector({ sessionContext, model, subshellTimeoutMs: 1000, pingMs });
    await settle();
    const rpc = kernel.opened('jaxinspect.rpc')[0];
    await new Promise(r => setTimeout(r, waitMs));
    const pings = () => rpc.sent.filter((m: any) => m.method === 'ping').length;
    return { connector, rpc, pings };
  }

  /** Dispose `connector`: no ping after that. */
  async function stopsPinging(connector: KernelConnector, pings: () => number) {
    connector.dispose();
    const after = pings();
    await new Promise(r => setTimeout(r, 60));
    expect(pings()).toBe(after);
  }

  it('pings the kernel while connected and stops when disposed', async () => {
    const { connector, rpc, pings } = await pinging(new FakeKernel('loaded'), 20, 90);
    expect(pings()).toBeGreaterThanOrEqual(2);
    await stopsPinging(connector, pings);
    expect(rpc.closedByClient).toBe(true);
  });

  it('pings at the pace the kernel answers with, never slower than pingMs', async () => {
    const kernel = new FakeKernel('loaded');
    kernel.rpcHandler = req => ({
      v: PROTOCOL_VERSION,
      type: 'response',
      id: req.id,
      ok: true,
      result: { time: 0, every_s: 0.01 },
      error: null
    });
    const { connector, pings } = await pinging(kernel, 60_000, 120);
    // the first ping goes at once, the next ones every 10 ms (the kernel's pace), not every 60 s
    expect(pings()).toBeGreaterThanOrEqual(4);
    await stopsPinging(connector, pings);
  });

  it('rejects an error response and times out an unanswered request', async () => {
    const kernel = new FakeKernel('loaded');
    const { connector } = setup(kernel);
    await settle();
    kernel.rpcHandler = req => ({
      v: PROTOCOL_VERSION,
      type: 'response',
      id: req.id,
      ok: false,
      result: null,
      error: 'no such method'
    });
    await expect(connector.request('nope')).rejects.toThrow('no such method');
    kernel.rpcHandler = null;
    await expect(connector.request('ping', {}, 20)).rejects.toThrow('timed out');
  });

  it('waits for the subshell before opening, when the kernel has subshells', async () => {
    const kernel = new FakeKernel('loaded');
    kernel.supportsSubshells = true;
    let start!: () => void;
    kernel.subshellStarted = new Promise<void>(resolve => {
      start = resolve;
    });
    const { model } = setup(kernel);
    await settle();
    expect(kernel.opened('jaxinspect')).toHaveLength(0);
    start();
    await settle();
    expect(kernel.opened('jaxinspect')).toHaveLength(1);
    expect(model.state).toBe('ready');
  });

  it('does not wait for a subshell that never starts when subshells are unsupported', async () => {
    const kernel = new FakeKernel('loaded');
    kernel.supportsSubshells = false;
    kernel.subshellStarted = new Promise<void>(() => undefined);
    const { model } = setup(kernel);
    await settle();
    expect(model.state).toBe('ready');
  });

  it('runs %load_ext and reports a failure', async () => {
    const kernel = new FakeKernel('absent');
    const { model, connector } = setup(kernel);
    await settle();
    kernel.executeReply = {
      content: { status: 'error', ename: 'ModuleNotFoundError', evalue: "No module named 'jaxinspect'" }
    };
    await connector.loadExtension();
    expect(kernel.executed).toEqual([
      { code: '%load_ext jaxinspect', silent: false, store_history: false }
    ]);
    expect(model.state).toBe('not-loaded');
    expect(model.message).toContain('ModuleNotFoundError');
  });

  it('dispose is idempotent, closes comms and removes the target', async () => {
    const kernel = new FakeKernel('loaded');
    const { connector, model } = setup(kernel);
    await settle();
    connector.dispose();
    connector.dispose();
    expect(kernel.targets.has('jaxinspect')).toBe(false);
    expect(kernel.opened('jaxinspect')[0].closedByClient).toBe(true);
    expect(kernel.opened('jaxinspect.rpc')[0].closedByClient).toBe(true);
    expect(connector.isDisposed).toBe(true);
    expect(model.state).toBe('ready'); // the model is the plugin's to dispose
  });
});
