/**
 * The kernel ⇄ sidebar wire protocol.
 *
 * The types are generated, not written here: `jaxinspect/records.py` and `jaxinspect/protocol.py`
 * define every record and message; `python -m jaxinspect.schema --write` (or `jlpm gen:schema`)
 * writes the JSON schema `jaxinspect/wire.schema.json`, and json-schema-to-typescript turns it
 * into `./generated/wire.ts`; `./generated/schema.ts` holds the compact `SCHEMA` (equal to
 * Python's `jaxinspect.protocol.SCHEMA`). `tests/test_schema.py` fails when any of them is stale.
 * This module re-exports them under the names the views use and keeps the runtime checks.
 * It imports nothing but its generated siblings, so Node can load it on its own.
 */

import { SCHEMA } from './generated/schema.js';
import type {
  AnyRecord as WireRecord,
  BatchMessage,
  HelloMessage,
  OpenMessage,
  AnnounceMessage,
  GoodbyeMessage,
  ErrorMessage,
  RemoteRecord,
  RequestMessage,
  ResponseMessage
} from './generated/wire';

export { SCHEMA };
export type * from './generated/wire';

export const PROTOCOL_VERSION = 1;
export const PUSH_TARGET = 'jaxinspect';
export const RPC_TARGET = 'jaxinspect.rpc';
/** The `client` name this extension sends in its comm_open data. */
export const CLIENT_NAME = 'jupyterlab-sidebar';

/** Every message type named in `SCHEMA.messages`. */
export type MessageType = keyof typeof SCHEMA.messages;
/** RPC methods the kernel answers. */
export type Method = (typeof SCHEMA.methods)[number];

// ---------------------------------------------------------------- records (generated types)

export type {
  SessionRecord as ISession,
  DeviceRecord as IDevice,
  EnvRecord as IEnvRecord,
  StatusRecord as IStatusRecord,
  InternalErrorRecord as IInternalErrorRecord,
  Reason as IReason,
  Location as ILocation,
  CompileEvent as ICompileEvent,
  FunctionCompileStats as ICompileStats,
  CompileAlert as ICompileAlert,
  DeviceMemory as IDeviceMemory,
  BufferGroup as IBufferGroup,
  BuffersRecord as IBuffersRecord,
  BufferAlert as IBufferAlert,
  ParamLayer as IParamLayer,
  ParamWatchRecord as IParamsWatch,
  ParamAlert as IParamsAlert,
  KeyNodeRecord as IKeyNode,
  KeyCount as IKeyCount,
  KeysRecord as IKeys,
  KeyReuse as IKeyReuse,
  ProcessRecord as IProcessRecord
} from './generated/wire';

/** A record of a kind this build does not know (a newer kernel's): kept as-is. */
export interface IRecord {
  kind: string;
  [field: string]: unknown;
}

/** A record in a batch: one of the kinds in the schema, or any other kind. */
export type AnyRecord = WireRecord | IRecord;

/** A `remote` record; what it carries may be of a kind this build does not know. */
export type IRemoteRecord = Omit<RemoteRecord, 'record'> & { record: AnyRecord };

// ---------------------------------------------------------------- messages (generated types)

export interface IMessageBase {
  v: number;
  type: MessageType;
}

export type IOpenMessage = OpenMessage;
export type IAnnounceMessage = AnnounceMessage;
export type IHelloMessage = HelloMessage;
/** A batch; its records may include kinds this build does not know (`IRecord`). */
export type IBatchMessage = Omit<BatchMessage, 'records'> & { records: AnyRecord[] };
export type IGoodbyeMessage = GoodbyeMessage;
export type IErrorMessage = ErrorMessage;
export type IRequest = RequestMessage;
export type IResponse = ResponseMessage;

export type Message =
  | IOpenMessage
  | IAnnounceMessage
  | IHelloMessage
  | IBatchMessage
  | IGoodbyeMessage
  | IErrorMessage
  | IRequest
  | IResponse;

/** The error code the kernel sends when the versions disagree. */
export const VERSION_MISMATCH = 'version_mismatch';

/** Result of `parseMessage`. */
export type ParseResult =
  | { ok: true; msg: Message }
  | { ok: false; error: string; versionMismatch: boolean };

/** The message shown when the kernel speaks protocol `kernelVersion`. */
export function versionMismatchMessage(kernelVersion: unknown): string {
  return (
    `jaxinspect: this kernel's jaxinspect speaks protocol v${String(kernelVersion)} ` +
    `but the JupyterLab extension speaks v${PROTOCOL_VERSION}; install the same jaxinspect ` +
    "version in the kernel's environment and in JupyterLab's, then restart the kernel " +
    'and reload the page.'
  );
}

/**
 * Check the envelope of a message from the kernel: an object with our `v` and a known `type`
 * whose fields are present. Field values are not type-checked beyond that.
 */
export function parseMessage(data: unknown): ParseResult {
  if (typeof data !== 'object' || data === null || Array.isArray(data)) {
    return {
      ok: false,
      error: 'jaxinspect: the kernel sent a message that is not an object.',
      versionMismatch: false
    };
  }
  const obj = data as { [key: string]: unknown };
  if (!('v' in obj)) {
    return {
      ok: false,
      error:
        'jaxinspect: the kernel sent a message without a protocol version; ' +
        "update jaxinspect in the kernel's environment and restart the kernel.",
      versionMismatch: true
    };
  }
  if (obj.v !== PROTOCOL_VERSION) {
    return {
      ok: false,
      error: versionMismatchMessage(obj.v),
      versionMismatch: true
    };
  }
  const type = obj.type;
  if (
    typeof type !== 'string' ||
    !Object.prototype.hasOwnProperty.call(SCHEMA.messages, type)
  ) {
    return {
      ok: false,
      error: `jaxinspect: unknown message type ${JSON.stringify(type)}.`,
      versionMismatch: false
    };
  }
  const spec = SCHEMA.messages[type as MessageType];
  const missing = Object.keys(spec).filter(k => !(k in obj));
  if (missing.length) {
    return {
      ok: false,
      error: `jaxinspect: message ${JSON.stringify(type)} is missing ${missing.join(', ')}.`,
      versionMismatch: false
    };
  }
  return { ok: true, msg: obj as unknown as Message };
}

/** Build a frontend → kernel message of `type` with the protocol version set. */
export function makeMessage<T extends Message>(
  type: T['type'],
  fields: Omit<T, 'v' | 'type'>
): T {
  return { v: PROTOCOL_VERSION, type, ...fields } as T;
}
