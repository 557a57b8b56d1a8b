import { PayloadType } from "./constants.ts";

/** Success: empty payload (spec §4). */
export interface Success {
  readonly type: typeof PayloadType.Success;
}

/** Error: one code byte (see `ErrorCode`). */
export interface ErrorPayload {
  readonly type: typeof PayloadType.Error;
  readonly code: number;
}

export interface Handshake {
  readonly type: typeof PayloadType.Handshake;
  readonly major: number;
  readonly minor: number;
  /** `ConnType`: 0x00 greeting, 0x01 user, 0x02 server. */
  readonly connType: number;
}

export interface UserAuth {
  readonly type: typeof PayloadType.UserAuth;
  readonly username: string;
  readonly password: string;
}

export interface Message {
  readonly type: typeof PayloadType.Message;
  readonly source: string;
  readonly target: string;
  /** Unix time in milliseconds (seconds are normalised on decode, spec §3). */
  readonly timestamp: number;
  readonly content: string;
}

/**
 * ServerAuth: upstream's form carries only `name`; this project's extension
 * appends `ts` and `signature` (spec §7). `ts` is kept exactly as sent (not
 * normalised) because the signature covers its bytes; see `normaliseTimestamp`.
 */
export interface ServerAuth {
  readonly type: typeof PayloadType.ServerAuth;
  readonly name: string;
  readonly ts?: number;
  /** A view into the received frame when decoded; copy it to keep it. */
  readonly signature?: Uint8Array;
}

export interface Usermode {
  readonly type: typeof PayloadType.Usermode;
  readonly user: string;
  /** A channel (join/leave) or, as an extension, a user (contact add/remove). */
  readonly channel: string;
  readonly mode: number;
}

export interface History {
  readonly type: typeof PayloadType.History;
  readonly target: string;
  /** Milliseconds; 0 = from the beginning (seconds are normalised on decode). */
  readonly since: number;
  readonly count: number;
  readonly offset: number;
}

export interface List {
  readonly type: typeof PayloadType.List;
  readonly count: number;
  readonly offset: number;
}

export interface ListItem {
  readonly type: typeof PayloadType.ListItem;
  readonly address: string;
}

/** Test: any bytes, echoed by the server [profile]. */
export interface Test {
  readonly type: typeof PayloadType.Test;
  /** A view into the received frame when decoded; copy it to keep it. */
  readonly data: Uint8Array;
}

export type Payload =
  | Success
  | ErrorPayload
  | Handshake
  | UserAuth
  | Message
  | ServerAuth
  | Usermode
  | History
  | List
  | ListItem
  | Test;

/** The payload interface for a given type byte. */
export type PayloadOf<T extends PayloadType> = Extract<Payload, { type: T }>;
