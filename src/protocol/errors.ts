import { ErrorCode } from "./constants.ts";

/**
 * A violation of the wire protocol, carrying the SOLEC error code to answer it
 * with. Decoding raises only this error (code 0x80 for anything malformed), so
 * a session can turn any decode failure into `Error{code}` + close.
 */
export class ProtocolError extends Error {
  override readonly name = "ProtocolError";
  constructor(readonly code: ErrorCode, message: string) {
    super(message);
  }
}

/** Shorthand for the common case: a malformed or forbidden frame (0x80). */
export function malformed(message: string): ProtocolError {
  return new ProtocolError(ErrorCode.ProtocolViolation, message);
}
