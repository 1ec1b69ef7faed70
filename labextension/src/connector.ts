/**
 * The kernel connector: one per notebook session; owns the two comms and feeds a SessionModel.
 *
 * Lifecycle: when the session's kernel is ready (first time, after a kernel change and after a
 * restart) the connector opens `jaxinspect` (push) and `jaxinspect.rpc`. A kernel without
 * jaxinspect loaded answers the open with a comm_close → `not-loaded`; the connector then waits for
 * the kernel's `announce` (sent by `%load_ext jaxinspect`) instead of polling.
 *
 * Subshells (JupyterLab ≥ 4.4, ipykernel ≥ 7): every CommHandler asks the kernel for a subshell
 * (one per comm target) and sends on it once `comm.subshellStarted` resolves; before that it sends
 * on the main shell, which is blocked while a cell runs. So both comms are opened only after their
 * subshell started. `subshellStarted` never resolves when the kernel has no subshells or comms over
 * subshells are disabled, so those cases are checked first (and a timeout guards the rest).
 */

import { ISignal, Signal } from '@lumino/signaling';

import type { Kernel, KernelMessage } from '@jupyterlab/services';

import { SessionModel } from './model';
import {
  CLIENT_NAME,
  IResponse,
  Method,
  PROTOCOL_VERSION,
  PUSH_TARGET,
  RPC_TARGET,
  VERSION_MISMATCH,
  parseMessage
} from './protocol';
import type { PingResult } from './protocol';

/** The part of a kernel comm the connector uses (satisfied by `Kernel.IComm`). */
export interface ICommLike {
  readonly commId: string;
  readonly isDisposed: boolean;
  commsOverSubshells?: string;
  onMsg: (msg: KernelMessage.ICommMsgMsg) => void | PromiseLike<void>;
  onClose: (msg: KernelMessage.ICommCloseMsg) => void | PromiseLike<void>;
  open(data?: any): unknown;
  send(data: any): unknown;
  close(data?: any): unknown;
}

/** The part of a kernel connection the connector uses (satisfied by `Kernel.IKernelConnection`). */
export interface IKernelLike {
  readonly status: Kernel.Status;
  readonly isDisposed: boolean;
  readonly info: Promise<unknown>;
  readonly supportsSubshells?: boolean;
  createComm(targetName: string, commId?: string): ICommLike;
  registerCommTarget(
    targetName: string,
    callback: (
      comm: ICommLike,
      msg: KernelMessage.ICommOpenMsg
    ) => void | PromiseLike<void>
  ): void;
  removeCommTarget(
    targetName: string,
    callback: (
      comm: ICommLike,
      msg: KernelMessage.ICommOpenMsg
    ) => void | PromiseLike<void>
  ): void;
  requestExecute(content: {
    code: string;
    silent?: boolean;
    store_history?: boolean;
  }): { done: Promise<unknown> };
}

/** The part of an `ISessionContext` the connector uses. */
export interface ISessionContextLike {
  readonly session: { readonly kernel: unknown } | null;
  readonly kernelChanged: ISignal<any, any>;
  readonly statusChanged: ISignal<any, Kernel.Status>;
  readonly isDisposed: boolean;
}

/** Connects one notebook session's kernel to a SessionModel. */
export class KernelConnector {
  constructor(options: KernelConnector.IOptions) {
    this.sessionContext = options.sessionContext;
    this.model = options.model;
    this._subshellTimeoutMs = options.subshellTimeoutMs ?? 10000;
    this._slowHelloMs = options.slowHelloMs ?? 15000;
    this._pingMs = options.pingMs ?? 20000;
    this.sessionContext.kernelChanged.connect(this._onKernelChanged, this);
    this.sessionContext.statusChanged.connect(this._onStatusChanged, this);
    this._attach(this._currentKernel());
  }

  readonly sessionContext: ISessionContextLike;
  readonly model: SessionModel;

  /** The kernel currently attached, if any. */
  get kernel(): IKernelLike | null {
    return this._kernel;
  }

  get isDisposed(): boolean {
    return this._isDisposed;
  }

  /** Open (or re-open) both comms now. */
  connect(): void {
    const kernel = this._kernel;
    if (this._isDisposed || !kernel || kernel.isDisposed) {
      return;
    }
    this._pendingConnect = false;
    // Keep the old comms until the new ones exist, so a shared per-target subshell survives.
    const old = this._teardown('keep');
    const gen = this._generation;
    this.model.setState('connecting');

    let push: ICommLike;
    let rpc: ICommLike;
    try {
      // Created synchronously (see _onAnnounce) so their subshell references are taken at once.
      push = kernel.createComm(PUSH_TARGET);
      rpc = kernel.createComm(RPC_TARGET);
    } catch (err) {
      this.model.setState('error', `jaxinspect: could not open a comm: ${String(err)}`);
      return;
    }
    this._push = push;
    this._rpc = rpc;
    push.onMsg = msg => this._onPushMsg(gen, msg);
    push.onClose = () => this._onPushClose(gen);
    rpc.onMsg = msg => this._onRpcMsg(gen, msg);
    rpc.onClose = () => this._onRpcClose(gen);
    for (const comm of old) {
      closeQuietly(comm);
    }

    // One id per sidebar connection: the kernel links the push and rpc comms by it and closes
    // the push comm of a sidebar that stops pinging (a page closed without a goodbye).
    const openData = { v: PROTOCOL_VERSION, type: 'open', client: this._clientId };
    this._rpcReady = (async () => {
      await Promise.all([
        waitForSubshell(push, kernel, this._subshellTimeoutMs),
        waitForSubshell(rpc, kernel, this._subshellTimeoutMs)
      ]);
      if (gen !== this._generation || push.isDisposed) {
        throw new Error('jaxinspect: connection was reset');
      }
      push.open(openData);
      rpc.open(openData);
    })();
    if (this._pingMs > 0) {
      this._schedulePing(gen, 0);
    }
    this._rpcReady.catch(err => {
      if (gen === this._generation) {
        this.model.setState('error', `jaxinspect: could not open a comm: ${String(err)}`);
      }
    });
    this._slowTimer = setTimeout(() => {
      if (gen === this._generation && this.model.state === 'connecting') {
        this.model.setState(
          'connecting',
          'Waiting for the kernel to answer; it answers once the running cell finishes ' +
            'if this kernel has no subshells.'
        );
      }
    }, this._slowHelloMs);
  }

  /**
   * Ping once the comms are open, then at the pace each answer asks for (`every_s`: a quarter
   * of the kernel's silence limit), never less often than `pingMs`. A fixed 20 s ping against
   * a 25 s limit let one late ping drop a live sidebar.
   */
  private _schedulePing(gen: number, delayMs: number): void {
    this._pingTimer = setTimeout(() => {
      if (gen !== this._generation) {
        return;
      }
      this.request('ping')
        .then(result => {
          const every = (result as Partial<PingResult> | null)?.every_s;
          return typeof every === 'number' && every > 0
            ? Math.min(this._pingMs, every * 1000)
            : this._pingMs;
        })
        .catch(() => this._pingMs)
        .then(next => {
          if (gen === this._generation && !this._isDisposed) {
            this._schedulePing(gen, next);
          }
        });
    }, delayMs);
  }

  /**
   * Send an RPC request on `jaxinspect.rpc`; resolves with the result, rejects on an error
   * response, a closed connection or after `timeoutMs`.
   */
  async request(
    method: Method | string,
    params: unknown = {},
    timeoutMs = 10000
  ): Promise<unknown> {
    const rpc = this._rpc;
    const ready = this._rpcReady;
    const gen = this._generation;
    if (!rpc || !ready) {
      throw new Error('jaxinspect: not connected to the kernel');
    }
    await ready;
    if (gen !== this._generation || rpc.isDisposed) {
      throw new Error('jaxinspect: connection was reset');
    }
    const id = ++this._nextId;
    return new Promise<unknown>((resolve, reject) => {
      const timer = setTimeout(() => {
        this._pending.delete(id);
        reject(new Error(`jaxinspect: request ${method} timed out after ${timeoutMs} ms`));
      }, timeoutMs);
      this._pending.set(id, { resolve, reject, timer });
      try {
        rpc.send({ v: PROTOCOL_VERSION, type: 'request', id, method, params: params as any });
      } catch (err) {
        clearTimeout(timer);
        this._pending.delete(id);
        reject(err);
      }
    });
  }

  /** Run `%load_ext jaxinspect` in the kernel; the kernel's `announce` then triggers a connect. */
  async loadExtension(): Promise<void> {
    const kernel = this._kernel;
    if (!kernel || kernel.isDisposed) {
      return;
    }
    const future = kernel.requestExecute({
      code: '%load_ext jaxinspect',
      silent: false,
      store_history: false
    });
    const reply = (await future.done) as
      | { content?: { status?: string; ename?: string; evalue?: string } }
      | undefined;
    const content = reply?.content;
    if (content && content.status === 'error' && this._kernel === kernel) {
      this.model.setState(
        'not-loaded',
        `%load_ext jaxinspect failed: ${content.ename ?? 'Error'}: ${content.evalue ?? ''}. ` +
          "Install jaxinspect in the kernel's environment (pip install jaxinspect) and try again."
      );
    }
  }

  dispose(): void {
    if (this._isDisposed) {
      return;
    }
    this._isDisposed = true;
    this.sessionContext.kernelChanged.disconnect(this._onKernelChanged, this);
    this.sessionContext.statusChanged.disconnect(this._onStatusChanged, this);
    this._detach();
    Signal.clearData(this);
  }

  // ------------------------------------------------------------ kernel lifecycle

  private _currentKernel(): IKernelLike | null {
    if (this.sessionContext.isDisposed) {
      return null;
    }
    return (this.sessionContext.session?.kernel as IKernelLike | null) ?? null;
  }

  private _onKernelChanged(): void {
    const kernel = this._currentKernel();
    if (kernel === this._kernel) {
      return;
    }
    this._detach();
    this._attach(kernel);
  }

  private _attach(kernel: IKernelLike | null): void {
    this._kernel = kernel;
    if (!kernel) {
      this.model.setState('no-kernel');
      return;
    }
    kernel.registerCommTarget(PUSH_TARGET, this._onAnnounce);
    this._pendingConnect = true;
    this.model.setState('connecting');
    this._maybeConnect(kernel.status);
  }

  private _detach(): void {
    const kernel = this._kernel;
    this._teardown('close');
    this._pendingConnect = false;
    if (kernel && !kernel.isDisposed) {
      try {
        kernel.removeCommTarget(PUSH_TARGET, this._onAnnounce);
      } catch {
        // the kernel may be going away
      }
    }
    this._kernel = null;
  }

  private _onStatusChanged(_: unknown, status: Kernel.Status): void {
    if (this._isDisposed || !this._kernel) {
      return;
    }
    switch (status) {
      case 'restarting':
      case 'autorestarting':
        this._teardown('dispose');
        this._pendingConnect = true;
        this.model.setState('connecting', 'The kernel is restarting.');
        break;
      case 'dead':
        this._teardown('dispose');
        this._pendingConnect = false;
        this.model.setState(
          'dead',
          'The kernel died. Restart it to inspect it again.'
        );
        break;
      default:
        this._maybeConnect(status);
    }
  }

  private _maybeConnect(status: Kernel.Status): void {
    if (this._pendingConnect && (status === 'idle' || status === 'busy')) {
      this.connect();
    }
  }

  /** Comm target `jaxinspect`: the kernel announces that jaxinspect was just loaded. */
  private _onAnnounce = (
    comm: ICommLike,
    msg: KernelMessage.ICommOpenMsg
  ): Promise<void> | void => {
    comm.onClose = () => undefined;
    comm.onMsg = () => undefined;
    if (this._isDisposed) {
      return;
    }
    const parsed = parseMessage(msg.content.data);
    if (!parsed.ok) {
      if (parsed.versionMismatch) {
        this._teardown('dispose');
        this.model.setState('version-mismatch', parsed.error);
      } else {
        console.warn(parsed.error);
      }
      return;
    }
    if (parsed.msg.type !== 'announce') {
      return;
    }
    // Connect synchronously, then hold kernel message processing for one macrotask so that the
    // new push comm takes its reference on the per-target subshell before the announce comm's
    // close (next message) releases it; otherwise the shared subshell could be deleted under us.
    this.connect();
    return new Promise<void>(resolve => setTimeout(resolve, 0));
  };

  // ------------------------------------------------------------ comm handlers

  private _onPushMsg(gen: number, msg: KernelMessage.ICommMsgMsg): void {
    if (gen !== this._generation) {
      return;
    }
    const parsed = parseMessage(msg.content.data);
    if (!parsed.ok) {
      if (parsed.versionMismatch) {
        this._teardown('close');
        this.model.setState('version-mismatch', parsed.error);
      } else {
        console.warn(parsed.error);
      }
      return;
    }
    const m = parsed.msg;
    switch (m.type) {
      case 'hello':
        this._clearSlowTimer();
        this.model.applyHello(m);
        break;
      case 'batch':
        if (this.model.state === 'ready') {
          this.model.applyBatch(m);
        }
        break;
      case 'goodbye':
        // The kernel closes both comms after its goodbye.
        this._teardown('orphan');
        this.model.applyGoodbye(m.reason);
        break;
      case 'error':
        this._onErrorMessage(m.code, m.message);
        break;
      default:
        break;
    }
  }

  private _onPushClose(gen: number): void {
    if (gen !== this._generation) {
      return;
    }
    this._push = null; // closed by the kernel: do not send a close back
    const state = this.model.state;
    // The kernel closes (or never registered) the rpc comm too: let its close arrive.
    this._teardown('orphan');
    if (state === 'connecting') {
      // No hello before the close: the kernel has no `jaxinspect` comm target.
      this.model.setState('not-loaded');
    } else if (state === 'ready') {
      this.model.setState('not-loaded', 'The kernel closed the jaxinspect connection.');
    }
  }

  private _onRpcMsg(gen: number, msg: KernelMessage.ICommMsgMsg): void {
    if (gen !== this._generation) {
      return;
    }
    const parsed = parseMessage(msg.content.data);
    if (!parsed.ok) {
      if (parsed.versionMismatch) {
        this._teardown('close');
        this.model.setState('version-mismatch', parsed.error);
      } else {
        console.warn(parsed.error);
      }
      return;
    }
    const m = parsed.msg;
    if (m.type === 'response') {
      this._settle(m);
    } else if (m.type === 'error') {
      this._onErrorMessage(m.code, m.message);
    }
  }

  private _onRpcClose(gen: number): void {
    if (gen !== this._generation) {
      return;
    }
    this._rpc = null;
    this._rejectPending('jaxinspect: the request connection was closed');
  }

  private _onErrorMessage(code: string, message: string): void {
    // The kernel closes the comm right after an error.
    this._teardown('orphan');
    if (code === VERSION_MISMATCH) {
      this.model.setState('version-mismatch', message);
    } else {
      this.model.setState('error', `jaxinspect: ${code}: ${message}`);
    }
  }

  private _settle(resp: IResponse): void {
    const pending = this._pending.get(resp.id);
    if (!pending) {
      return;
    }
    this._pending.delete(resp.id);
    clearTimeout(pending.timer);
    if (resp.ok) {
      pending.resolve(resp.result);
    } else {
      pending.reject(new Error(resp.error ?? 'jaxinspect: request failed'));
    }
  }

  private _rejectPending(reason: string): void {
    const pending = Array.from(this._pending.values());
    this._pending.clear();
    for (const p of pending) {
      clearTimeout(p.timer);
      p.reject(new Error(reason));
    }
  }

  private _clearSlowTimer(): void {
    if (this._slowTimer !== null) {
      clearTimeout(this._slowTimer);
      this._slowTimer = null;
    }
  }

  /**
   * Forget the current comms, pending requests and timers. `close` sends comm_close when the
   * kernel is alive; `dispose` drops them here (restart, dead kernel); `orphan` only silences
   * them because the kernel is closing them (disposing first would make JupyterLab log
   * "Comm not found" when the kernel's comm_close arrives); `keep` returns them untouched for
   * the caller to close.
   */
  private _teardown(
    mode: 'close' | 'dispose' | 'orphan' | 'keep'
  ): Array<ICommLike | null> {
    this._generation++;
    this._clearSlowTimer();
    if (this._pingTimer !== null) {
      clearTimeout(this._pingTimer);
      this._pingTimer = null;
    }
    const push = this._push;
    const rpc = this._rpc;
    this._push = null;
    this._rpc = null;
    this._rpcReady = null;
    const kernel = this._kernel;
    const alive =
      !!kernel && !kernel.isDisposed && kernel.status !== 'dead' &&
      kernel.status !== 'restarting' && kernel.status !== 'autorestarting';
    if (mode === 'close' && alive) {
      closeQuietly(push);
      closeQuietly(rpc);
    } else if (mode === 'orphan') {
      silence(push);
      silence(rpc);
    } else if (mode !== 'keep') {
      disposeQuietly(push);
      disposeQuietly(rpc);
    }
    this._rejectPending('jaxinspect: connection was reset');
    return [push, rpc];
  }

  private _kernel: IKernelLike | null = null;
  private readonly _clientId = `${CLIENT_NAME}/${Math.random().toString(36).slice(2, 10)}`;
  private _pingMs: number;
  private _pingTimer: ReturnType<typeof setTimeout> | null = null;
  private _push: ICommLike | null = null;
  private _rpc: ICommLike | null = null;
  private _rpcReady: Promise<void> | null = null;
  private _generation = 0;
  private _pendingConnect = false;
  private _nextId = 0;
  private _pending = new Map<
    number,
    {
      resolve: (value: unknown) => void;
      reject: (reason: unknown) => void;
      timer: ReturnType<typeof setTimeout>;
    }
  >();
  private _slowTimer: ReturnType<typeof setTimeout> | null = null;
  private _subshellTimeoutMs: number;
  private _slowHelloMs: number;
  private _isDisposed = false;
}

export namespace KernelConnector {
  export interface IOptions {
    sessionContext: ISessionContextLike;
    model: SessionModel;
    /** Longest wait for a comm's subshell before sending on the main shell (default 10 s). */
    subshellTimeoutMs?: number;
    /** After this long without `hello`, say why we are still waiting (default 15 s). */
    slowHelloMs?: number;
    /**
     * Send a `ping` request at least this often while connected (default 20 s; 0: never), so
     * the kernel can tell a sidebar that is gone (page closed without a goodbye) from one that
     * is quiet. The kernel's answers may ask for more (a quarter of its silence limit).
     */
    pingMs?: number;
  }
}

/**
 * Resolve once `comm` sends on its subshell, or at once when it never will (no subshell support,
 * comms over subshells disabled, an older JupyterLab without `subshellStarted`).
 */
export async function waitForSubshell(
  comm: ICommLike,
  kernel: IKernelLike,
  timeoutMs: number
): Promise<void> {
  const started = (comm as { subshellStarted?: Promise<void> }).subshellStarted;
  if (!started || comm.commsOverSubshells === 'disabled') {
    return;
  }
  try {
    await kernel.info;
  } catch {
    return;
  }
  if (!kernel.supportsSubshells) {
    return;
  }
  let timer: ReturnType<typeof setTimeout> | undefined;
  await Promise.race([
    started.catch(() => undefined),
    new Promise<void>(resolve => {
      timer = setTimeout(resolve, timeoutMs);
    })
  ]);
  clearTimeout(timer);
}

function silence(comm: ICommLike | null): void {
  if (comm && !comm.isDisposed) {
    comm.onClose = () => undefined;
    comm.onMsg = () => undefined;
  }
}

function closeQuietly(comm: ICommLike | null): void {
  if (comm && !comm.isDisposed) {
    comm.onClose = () => undefined;
    comm.onMsg = () => undefined;
    try {
      comm.close();
    } catch {
      // already gone
    }
  }
}

function disposeQuietly(comm: ICommLike | null): void {
  if (comm && !comm.isDisposed) {
    comm.onClose = () => undefined;
    comm.onMsg = () => undefined;
    const d = comm as { dispose?: () => void };
    try {
      d.dispose?.();
    } catch {
      // already gone
    }
  }
}
