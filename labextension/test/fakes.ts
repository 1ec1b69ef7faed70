/** A fake kernel implementing the small subset of the JupyterLab kernel API the connector uses. */

import { Signal } from '@lumino/signaling';

import type { ICommLike, IKernelLike } from '../src/connector';
import { PROTOCOL_VERSION } from '../src/protocol';
import { hello } from './fixtures';

/** How the fake kernel answers a `jaxinspect` comm_open. */
export type KernelMode = 'loaded' | 'absent' | 'mismatch' | 'silent';

let nextCommId = 0;

export class FakeComm implements ICommLike {
  constructor(
    readonly targetName: string,
    private readonly kernel: FakeKernel,
    subshellStarted?: Promise<void>
  ) {
    this.commId = `comm-${++nextCommId}`;
    if (subshellStarted) {
      (this as any).subshellStarted = subshellStarted;
    }
  }

  readonly commId: string;
  isDisposed = false;
  commsOverSubshells?: string = 'perCommTarget';
  onMsg: ICommLike['onMsg'] = () => undefined;
  onClose: ICommLike['onClose'] = () => undefined;
  opened: any = null;
  sent: any[] = [];
  closedByClient = false;

  open(data?: any): void {
    if (this.isDisposed) {
      throw new Error('Cannot open');
    }
    this.opened = data;
    this.kernel.handleOpen(this);
  }

  send(data: any): void {
    if (this.isDisposed) {
      throw new Error('Cannot send');
    }
    this.sent.push(data);
    this.kernel.handleSend(this, data);
  }

  close(): void {
    if (this.isDisposed) {
      throw new Error('Cannot close');
    }
    this.closedByClient = true;
    void this.onClose({ content: { comm_id: this.commId, data: {} } } as any);
    this.isDisposed = true;
  }

  dispose(): void {
    this.isDisposed = true;
  }

  /** The kernel sends `data` on this comm. */
  receive(data: any): void {
    if (this.isDisposed) {
      return; // JupyterLab drops messages for comms it no longer has
    }
    void this.onMsg({ content: { comm_id: this.commId, data } } as any);
  }

  /** The kernel closes this comm. */
  serverClose(): void {
    if (this.isDisposed) {
      // JupyterLab logs "Comm not found for comm id ..." in this case.
      this.kernel.commNotFound++;
      return;
    }
    void this.onClose({ content: { comm_id: this.commId, data: {} } } as any);
    this.isDisposed = true;
  }
}

export class FakeKernel implements IKernelLike {
  constructor(public mode: KernelMode = 'loaded') {}

  status: any = 'idle';
  isDisposed = false;
  info: Promise<unknown> = Promise.resolve({});
  supportsSubshells = false;
  /** When set, new comms get this as `subshellStarted`. */
  subshellStarted: Promise<void> | undefined = undefined;
  comms: FakeComm[] = [];
  /** comm_close messages for comms the frontend had already dropped. */
  commNotFound = 0;
  targets = new Map<string, (comm: any, msg: any) => any>();
  executed: any[] = [];
  executeReply: any = { content: { status: 'ok' } };
  /** Answer rpc requests here (null: never answer). */
  rpcHandler: ((req: any) => any) | null = req => ({
    v: PROTOCOL_VERSION,
    type: 'response',
    id: req.id,
    ok: true,
    result: { method: req.method },
    error: null
  });

  createComm(targetName: string): FakeComm {
    const comm = new FakeComm(targetName, this, this.subshellStarted);
    this.comms.push(comm);
    return comm;
  }

  registerCommTarget(targetName: string, cb: any): void {
    this.targets.set(targetName, cb);
  }

  removeCommTarget(targetName: string, cb: any): void {
    if (this.targets.get(targetName) === cb) {
      this.targets.delete(targetName);
    }
  }

  requestExecute(content: any): { done: Promise<unknown> } {
    this.executed.push(content);
    return { done: Promise.resolve(this.executeReply) };
  }

  /** Comms of `target` opened by the client, newest last. */
  opened(target: string): FakeComm[] {
    return this.comms.filter(c => c.targetName === target && c.opened !== null);
  }

  handleOpen(comm: FakeComm): void {
    // Answer asynchronously, as a real kernel would.
    setTimeout(() => {
      switch (this.mode) {
        case 'loaded':
          if (comm.targetName === 'jaxinspect') {
            comm.receive(hello());
          }
          break;
        case 'absent':
          comm.serverClose();
          break;
        case 'mismatch':
          comm.receive({
            v: PROTOCOL_VERSION,
            type: 'error',
            code: 'version_mismatch',
            message: 'kernel says: versions differ'
          });
          comm.serverClose();
          break;
        case 'silent':
          break;
      }
    }, 0);
  }

  handleSend(comm: FakeComm, data: any): void {
    if (comm.targetName === 'jaxinspect.rpc' && data?.type === 'request' && this.rpcHandler) {
      const reply = this.rpcHandler(data);
      setTimeout(() => comm.receive(reply), 0);
    }
  }

  /** `%load_ext jaxinspect` in the kernel: open a comm carrying `announce`, close it at once. */
  async announce(v = PROTOCOL_VERSION): Promise<void> {
    const cb = this.targets.get('jaxinspect');
    if (!cb) {
      throw new Error('no jaxinspect comm target registered');
    }
    const comm = new FakeComm('jaxinspect', this);
    await cb(comm, {
      content: {
        comm_id: comm.commId,
        target_name: 'jaxinspect',
        data: { v, type: 'announce', jaxinspect_version: '0.1.0' }
      }
    });
    comm.serverClose();
  }
}

export class FakeSessionContext {
  constructor(kernel: FakeKernel | null) {
    this.session = { kernel };
  }

  session: { kernel: FakeKernel | null } | null;
  isDisposed = false;
  readonly kernelChanged = new Signal<this, any>(this);
  readonly statusChanged = new Signal<this, any>(this);

  get kernel(): FakeKernel | null {
    return this.session?.kernel ?? null;
  }

  setKernel(kernel: FakeKernel | null): void {
    const oldValue = this.kernel;
    this.session = { kernel };
    this.kernelChanged.emit({ name: 'kernel', oldValue, newValue: kernel });
  }

  setStatus(status: string): void {
    if (this.kernel) {
      this.kernel.status = status;
    }
    this.statusChanged.emit(status);
  }
}

/** Let pending timers and promise callbacks run. */
export async function settle(rounds = 5): Promise<void> {
  for (let i = 0; i < rounds; i++) {
    await new Promise(resolve => setTimeout(resolve, 0));
  }
}
