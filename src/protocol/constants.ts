/** Protocol version this implementation speaks (spec §0: 0.2). */
export const VERSION_MAJOR = 0;
export const VERSION_MINOR = 2;

/** Frame header: uint8 type + uint16 payload length (spec §2). */
export const HEADER_SIZE = 3;
/** Largest payload the 16-bit length field can announce. */
export const MAX_PAYLOAD = 0xffff;
/** This project's default inbound payload limit [profile]. */
export const DEFAULT_MAX_PAYLOAD = 8192;

/** Payload types (spec §4). */
export const PayloadType = {
  Success: 0x01,
  Error: 0x02,
  Handshake: 0x03,
  UserAuth: 0x04,
  Message: 0x05,
  ServerAuth: 0x06,
  Usermode: 0x07,
  History: 0x08,
  List: 0x09,
  ListItem: 0x10,
  Test: 0xff,
} as const;
export type PayloadType = typeof PayloadType[keyof typeof PayloadType];

const TYPE_NAMES: Record<number, string> = {};
for (const [name, value] of Object.entries(PayloadType)) TYPE_NAMES[value] = name;

/** Whether `type` is a payload type a peer may send (0x00 is reserved, 0xFF Test is allowed). */
export function isKnownType(type: number): type is PayloadType {
  return TYPE_NAMES[type] !== undefined;
}

/** Human name of a payload type, for logs and metrics labels. */
export function typeName(type: number): string {
  return TYPE_NAMES[type] ?? `0x${type.toString(16).padStart(2, "0")}`;
}

/** Handshake `conn_type` values (spec §4). */
export const ConnType = {
  /** In the greeting a server sends first [profile]. */
  Greeting: 0x00,
  User: 0x01,
  Server: 0x02,
} as const;
export type ConnType = typeof ConnType[keyof typeof ConnType];

/** Error codes (spec §4). */
export const ErrorCode = {
  AuthFailed: 0x01,
  NotFound: 0x02,
  ServerAuthFailed: 0x03,
  ProtocolViolation: 0x80,
  UnsupportedVersion: 0x81,
  RateLimited: 0x82,
  Unavailable: 0x83,
} as const;
export type ErrorCode = typeof ErrorCode[keyof typeof ErrorCode];

/** Usermode `mode` values: join/add = 1, leave/remove = 0. */
export const Mode = { Off: 0, On: 1 } as const;

/**
 * Timestamps below this are in seconds and get multiplied by 1000 (spec §3):
 * 1e11 ms is March 1973, 1e11 s is year 5138, so the ranges cannot be confused.
 */
export const SECONDS_THRESHOLD = 100_000_000_000;
