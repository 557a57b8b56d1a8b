/**
 * Structured logs: one JSON object per line on stderr,
 * `{"time","level","msg",...fields}`. Fields are data, never message
 * contents or passwords: callers log addresses and sizes only, and as a
 * safety net a field named like a secret or a message body ({@link
 * SENSITIVE_FIELDS}) is written as "[redacted]" at every level but debug.
 */
import process from "node:process";

export type LogLevel = "debug" | "info" | "warn" | "error";
const RANK: Record<LogLevel, number> = { debug: 10, info: 20, warn: 30, error: 40 };

export type LogFields = Record<string, string | number | boolean | null | undefined>;

export interface Logger {
  debug(msg: string, fields?: LogFields): void;
  info(msg: string, fields?: LogFields): void;
  warn(msg: string, fields?: LogFields): void;
  error(msg: string, fields?: LogFields): void;
}

/** Field names whose values are only written at debug level. */
export const SENSITIVE_FIELDS: ReadonlySet<string> = new Set([
  "password",
  "passwd",
  "secret",
  "content",
  "body",
]);

/** Keys every line has; a field of the same name is dropped, not allowed to overwrite them. */
const RESERVED = new Set(["time", "level", "msg"]);

export function createLogger(
  level: LogLevel,
  sink: (line: string) => void = (l) => process.stderr.write(l + "\n"),
): Logger {
  const min = RANK[level];
  const emit = (lvl: LogLevel, msg: string, fields?: LogFields) => {
    if (RANK[lvl] < min) return;
    const record: Record<string, unknown> = { time: new Date().toISOString(), level: lvl, msg };
    if (fields !== undefined) {
      for (const [key, value] of Object.entries(fields)) {
        if (RESERVED.has(key)) continue;
        record[key] = lvl !== "debug" && SENSITIVE_FIELDS.has(key.toLowerCase())
          ? "[redacted]"
          : value;
      }
    }
    sink(JSON.stringify(record));
  };
  return {
    debug: (m, f) => emit("debug", m, f),
    info: (m, f) => emit("info", m, f),
    warn: (m, f) => emit("warn", m, f),
    error: (m, f) => emit("error", m, f),
  };
}

export const silentLogger: Logger = { debug() {}, info() {}, warn() {}, error() {} };
