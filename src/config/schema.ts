/**
 * The server configuration: its type, the zod schemas that validate each
 * source (JSON config file, environment variables, command-line flags), and
 * {@link CONFIG_REFERENCE}, the documentation table the README and
 * `solec --help` are generated from.
 *
 * Loading (sources, precedence, error reporting) lives in `./load.ts`.
 */
import { Buffer } from "node:buffer";
import { isIP } from "node:net";
import { z } from "zod";
import { DEFAULT_PASSWORD_COST, PASSWORD_COST_MAX, PASSWORD_COST_MIN } from "../server/password.ts";

export type LogLevel = "debug" | "info" | "warn" | "error";
export const LOG_LEVELS: readonly LogLevel[] = ["debug", "info", "warn", "error"];

/** Where to reach a peer server. */
export interface PeerAddress {
  readonly host: string;
  readonly port: number;
}

/** A known peer server (server-to-server links, spec §7). */
export interface PeerConfig {
  /** The peer's domain, lower-case. */
  readonly domain: string;
  /** The peer's raw 32-byte Ed25519 public key. */
  readonly publicKey: Uint8Array;
  /** From the config file's `address`, else `{ host: domain, port: 9999 }`. */
  readonly address: PeerAddress;
  /** Connect to the peer over TLS (default false). */
  readonly tls: boolean;
}

/** The validated server configuration. */
export interface Config {
  /** This server's domain (the part after `@` in its users' addresses), lower-case. */
  readonly domain: string;
  readonly host: string;
  /** SOLEC listener port; 0 picks a free port. */
  readonly port: number;
  readonly httpHost: string;
  /** HTTP listener port; 0 picks a free port; false disables HTTP. */
  readonly httpPort: number | false;
  /** `memory:` or `sqlite:<path>`. */
  readonly store: string;
  /** Path of the server's Ed25519 private key file. */
  readonly key: string;
  /** PEM certificate chain path; set together with `tlsKey` or not at all. */
  readonly tlsCert: string | undefined;
  /** PEM private key path; set together with `tlsCert` or not at all. */
  readonly tlsKey: string | undefined;
  readonly logLevel: LogLevel;
  /** Largest inbound frame payload accepted, in bytes. */
  readonly maxPayload: number;
  readonly authTimeoutMs: number;
  /** Cap on History `count`. */
  readonly historyMaxCount: number;
  readonly channelAutoCreate: boolean;
  /** scrypt log2(N) for new password hashes. */
  readonly passwordCost: number;
  /** On SIGTERM/SIGINT: the longest a graceful stop may take before the process exits anyway. */
  readonly shutdownTimeoutMs: number;
  readonly maxConnections: number;
  readonly maxConnectionsPerIp: number;
  readonly maxMessageBytes: number;
  readonly rateLimit: number;
  readonly rateBurst: number;
  readonly maxOutputBytes: number;
  readonly outboxMaxAgeMs: number;
  /** Nice value for the runtime's helper threads (Linux); 0 leaves them alone. */
  readonly helperThreadNice: number;
  readonly peers: readonly PeerConfig[];
}

/** Config keys that can be set from every source (everything but `peers`). */
export type ScalarKey = Exclude<keyof Config, "peers">;

export const DEFAULT_SOLEC_PORT = 9999;

// ---------------------------------------------------------------------------
// Value checks shared with other modules

const LABEL_RE = /^[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?$/;

/**
 * A DNS-style host name (spec §5): dot-separated labels of a-z 0-9 and inner
 * hyphens, 1-63 characters each, 253 in all. Expects lower-case input.
 */
export function isDomainName(value: string): boolean {
  return value.length >= 1 && value.length <= 253 &&
    value.split(".").every((label) => LABEL_RE.test(label));
}

/** An IP literal (IPv6 optionally in brackets) or a host name. */
function normalizeHost(value: string): string | null {
  const v = value.trim();
  const unbracketed = v.startsWith("[") && v.endsWith("]") ? v.slice(1, -1) : v;
  if (isIP(unbracketed) !== 0) return unbracketed;
  if (unbracketed !== v) return null; // brackets only around IPv6
  const lower = v.toLowerCase();
  return isDomainName(lower) ? lower : null;
}

/** Parse `host:port` or `[ipv6]:port`; port 1-65535. */
export function parseHostPort(value: string): PeerAddress | null {
  const m = /^(\[[^\]]+\]|[^:[\]]+):([0-9]{1,5})$/.exec(value.trim());
  if (!m) return null;
  const host = normalizeHost(m[1]!);
  const port = Number(m[2]);
  if (host === null || port < 1 || port > 65535) return null;
  return { host, port };
}

/** Decode standard base64 (padding optional) of exactly 32 bytes. */
function decodeKey32(value: string): Uint8Array | null {
  const v = value.trim();
  if (!/^[A-Za-z0-9+/]{43}=?$/.test(v)) return null;
  const bytes = Buffer.from(v, "base64");
  if (bytes.length !== 32) return null;
  if (bytes.toString("base64").replace(/=$/, "") !== v.replace(/=$/, "")) return null;
  return new Uint8Array(bytes);
}

const BOOL_WORDS = new Map<string, boolean>([
  ["true", true],
  ["false", false],
  ["1", true],
  ["0", false],
  ["yes", true],
  ["no", false],
]);

// ---------------------------------------------------------------------------
// Per-type schemas. `text` parses an environment variable or flag value; `json`
// parses the value found in the config file. Failures are reported by the
// loader as "expected <FieldSpec.expected>, got <value>".

const intText = (min: number, max: number) =>
  z.string().trim().regex(/^[0-9]+$/).transform(Number).pipe(z.int().min(min).max(max));
const intJson = (min: number, max: number) => z.int().min(min).max(max);

const boolText = z.string().transform((s, ctx) => {
  const b = BOOL_WORDS.get(s.trim().toLowerCase());
  if (b === undefined) {
    ctx.issues.push({ code: "custom", message: "not a boolean", input: s });
    return z.NEVER;
  }
  return b;
});

const domainSchema = z.string().trim().toLowerCase().refine(isDomainName);

const hostSchema = z.string().transform((s, ctx) => {
  const host = normalizeHost(s);
  if (host === null) {
    ctx.issues.push({ code: "custom", message: "not a host", input: s });
    return z.NEVER;
  }
  return host;
});

const pathSchema = z.string().min(1);
const storeSchema = z.string().refine((s) => s.startsWith("memory:") || s.startsWith("sqlite:"));
const logLevelSchema = z.enum(["debug", "info", "warn", "error"]);

const OFF_WORDS = new Set(["off", "false"]);
const httpPortText = z.union([
  z.string().refine((s) => OFF_WORDS.has(s.trim().toLowerCase())).transform(() => false as const),
  intText(0, 65535),
]);
const httpPortJson = z.union([
  z.literal(false),
  z.literal("off").transform(() => false as const),
  intJson(0, 65535),
]);

const PAYLOAD_MAX = 65535;
const AUTH_TIMEOUT_MAX = 3_600_000;
const HISTORY_MAX = 100_000;
const SHUTDOWN_TIMEOUT_MAX = 3_600_000;

// ---------------------------------------------------------------------------
// Field table

export interface FieldSpec<K extends ScalarKey> {
  readonly key: K;
  /** Environment variable name. */
  readonly env: string;
  /** Flag name without the leading `--`. */
  readonly flag: string;
  /** Value placeholder for help output (`--port PORT`). */
  readonly arg: string;
  readonly default: Config[K];
  /** The default as shown in documentation. */
  readonly defaultText: string;
  /** What a valid value looks like, for error messages ("an integer 0-65535"). */
  readonly expected: string;
  readonly description: string;
  /** Parses an environment variable or flag value. */
  readonly text: z.ZodType<Config[K]>;
  /** Parses the value found in the JSON config file. */
  readonly json: z.ZodType<Config[K]>;
}

export type FieldTable = { readonly [K in ScalarKey]: FieldSpec<K> };

/** Every scalar field, in documentation order. */
export const FIELDS: FieldTable = {
  domain: {
    key: "domain",
    env: "SOLEC_DOMAIN",
    flag: "domain",
    arg: "DOMAIN",
    default: "localhost",
    defaultText: "localhost",
    expected: "a DNS host name such as chat.example.org",
    description:
      "This server's domain: the part after @ in its users' and channels' addresses (stored lower-case).",
    text: domainSchema,
    json: domainSchema,
  },
  host: {
    key: "host",
    env: "SOLEC_HOST",
    flag: "host",
    arg: "ADDR",
    default: "0.0.0.0",
    defaultText: "0.0.0.0",
    expected: "an IP address or host name",
    description: "Address the SOLEC listener binds to.",
    text: hostSchema,
    json: hostSchema,
  },
  port: {
    key: "port",
    env: "SOLEC_PORT",
    flag: "port",
    arg: "PORT",
    default: DEFAULT_SOLEC_PORT,
    defaultText: String(DEFAULT_SOLEC_PORT),
    expected: "an integer 0-65535",
    description: "TCP port of the SOLEC listener (0 picks a free port).",
    text: intText(0, 65535),
    json: intJson(0, 65535),
  },
  httpHost: {
    key: "httpHost",
    env: "SOLEC_HTTP_HOST",
    flag: "http-host",
    arg: "ADDR",
    default: "127.0.0.1",
    defaultText: "127.0.0.1",
    expected: "an IP address or host name",
    description: "Address the HTTP listener (health, metrics, admin) binds to.",
    text: hostSchema,
    json: hostSchema,
  },
  httpPort: {
    key: "httpPort",
    env: "SOLEC_HTTP_PORT",
    flag: "http-port",
    arg: "PORT|off",
    default: 9998,
    defaultText: "9998",
    expected: 'an integer 0-65535 or "off"',
    description:
      'TCP port of the HTTP listener (0 picks a free port; "off" or false disables HTTP).',
    text: httpPortText,
    json: httpPortJson,
  },
  store: {
    key: "store",
    env: "SOLEC_STORE",
    flag: "store",
    arg: "URL",
    default: "sqlite:./solec.db",
    defaultText: "sqlite:./solec.db",
    expected: '"memory:" or "sqlite:<path>"',
    description:
      'Where data is kept: "sqlite:<path>" (durable) or "memory:" (lost on exit, for tests).',
    text: storeSchema,
    json: storeSchema,
  },
  key: {
    key: "key",
    env: "SOLEC_KEY",
    flag: "key",
    arg: "PATH",
    default: "./solec.key",
    defaultText: "./solec.key",
    expected: "a file path",
    description: "File holding this server's Ed25519 private key (signs server-to-server logins).",
    text: pathSchema,
    json: pathSchema,
  },
  tlsCert: {
    key: "tlsCert",
    env: "SOLEC_TLS_CERT",
    flag: "tls-cert",
    arg: "PATH",
    default: undefined,
    defaultText: "(unset)",
    expected: "a file path",
    description:
      "PEM certificate chain for the SOLEC listener; with tlsKey enables TLS (both or neither).",
    text: pathSchema,
    json: pathSchema,
  },
  tlsKey: {
    key: "tlsKey",
    env: "SOLEC_TLS_KEY",
    flag: "tls-key",
    arg: "PATH",
    default: undefined,
    defaultText: "(unset)",
    expected: "a file path",
    description: "PEM private key for tlsCert (both or neither).",
    text: pathSchema,
    json: pathSchema,
  },
  logLevel: {
    key: "logLevel",
    env: "SOLEC_LOG_LEVEL",
    flag: "log-level",
    arg: "LEVEL",
    default: "info",
    defaultText: "info",
    expected: "one of debug, info, warn, error",
    description: "Least severe log level written: debug, info, warn or error.",
    text: z.string().trim().toLowerCase().pipe(logLevelSchema),
    json: logLevelSchema,
  },
  maxPayload: {
    key: "maxPayload",
    env: "SOLEC_MAX_PAYLOAD",
    flag: "max-payload",
    arg: "BYTES",
    default: 8192,
    defaultText: "8192",
    expected: `an integer 1-${PAYLOAD_MAX}`,
    description:
      "Largest inbound frame payload in bytes; a longer frame is rejected from its header (Error 0x80).",
    text: intText(1, PAYLOAD_MAX),
    json: intJson(1, PAYLOAD_MAX),
  },
  authTimeoutMs: {
    key: "authTimeoutMs",
    env: "SOLEC_AUTH_TIMEOUT_MS",
    flag: "auth-timeout-ms",
    arg: "MS",
    default: 10_000,
    defaultText: "10000",
    expected: `an integer 1-${AUTH_TIMEOUT_MAX} (milliseconds)`,
    description:
      "Milliseconds a new connection has to complete Handshake and authentication before it is closed.",
    text: intText(1, AUTH_TIMEOUT_MAX),
    json: intJson(1, AUTH_TIMEOUT_MAX),
  },
  historyMaxCount: {
    key: "historyMaxCount",
    env: "SOLEC_HISTORY_MAX",
    flag: "history-max",
    arg: "N",
    default: 500,
    defaultText: "500",
    expected: `an integer 1-${HISTORY_MAX}`,
    description: "Most messages one History request returns (larger counts are capped).",
    text: intText(1, HISTORY_MAX),
    json: intJson(1, HISTORY_MAX),
  },
  channelAutoCreate: {
    key: "channelAutoCreate",
    env: "SOLEC_CHANNEL_AUTO_CREATE",
    flag: "channel-auto-create",
    arg: "BOOL",
    default: true,
    defaultText: "true",
    expected: "true/false, yes/no or 1/0",
    description:
      "Create a channel when a local user first joins it; when false, the operator creates channels.",
    text: boolText,
    json: z.boolean(),
  },
  passwordCost: {
    key: "passwordCost",
    env: "SOLEC_PASSWORD_COST",
    flag: "password-cost",
    arg: "LN",
    default: DEFAULT_PASSWORD_COST,
    defaultText: String(DEFAULT_PASSWORD_COST),
    expected: `an integer ${PASSWORD_COST_MIN}-${PASSWORD_COST_MAX}`,
    description:
      `scrypt cost (log2 N, memory = 2^LN KiB) for new password hashes; older hashes are upgraded at login.`,
    text: intText(PASSWORD_COST_MIN, PASSWORD_COST_MAX),
    json: intJson(PASSWORD_COST_MIN, PASSWORD_COST_MAX),
  },
  shutdownTimeoutMs: {
    key: "shutdownTimeoutMs",
    env: "SOLEC_SHUTDOWN_TIMEOUT_MS",
    flag: "shutdown-timeout-ms",
    arg: "MS",
    default: 10_000,
    defaultText: "10000",
    expected: `an integer 1-${SHUTDOWN_TIMEOUT_MAX} (milliseconds)`,
    description:
      "On SIGTERM/SIGINT: milliseconds for the graceful stop (requests in hand answered, writes committed, store closed); then the process exits anyway.",
    text: intText(1, SHUTDOWN_TIMEOUT_MAX),
    json: intJson(1, SHUTDOWN_TIMEOUT_MAX),
  },
  maxConnections: {
    key: "maxConnections",
    env: "SOLEC_MAX_CONNECTIONS",
    flag: "max-connections",
    arg: "N",
    default: 10000,
    defaultText: "10000",
    expected: "an integer 0-1000000",
    description:
      "Open SOLEC connections at most (clients and peer links); 0 = unlimited. Further connections get Error 0x83 and are closed.",
    text: intText(0, 1000000),
    json: intJson(0, 1000000),
  },
  maxConnectionsPerIp: {
    key: "maxConnectionsPerIp",
    env: "SOLEC_MAX_CONNECTIONS_PER_IP",
    flag: "max-connections-per-ip",
    arg: "N",
    default: 100,
    defaultText: "100",
    expected: "an integer 0-1000000",
    description: "Open connections per remote IP at most; 0 = unlimited.",
    text: intText(0, 1000000),
    json: intJson(0, 1000000),
  },
  maxMessageBytes: {
    key: "maxMessageBytes",
    env: "SOLEC_MAX_MESSAGE_BYTES",
    flag: "max-message-bytes",
    arg: "BYTES",
    default: 4096,
    defaultText: "4096",
    expected: "an integer 1-65535",
    description: "Largest Message content in bytes; a longer one is refused with Error 0x02.",
    text: intText(1, 65535),
    json: intJson(1, 65535),
  },
  rateLimit: {
    key: "rateLimit",
    env: "SOLEC_RATE_LIMIT",
    flag: "rate-limit",
    arg: "N",
    default: 100,
    defaultText: "100",
    expected: "an integer 0-10000000",
    description:
      "Requests per second per client connection (token bucket); over it Error 0x82; 0 = unlimited. Server links get 50x.",
    text: intText(0, 10000000),
    json: intJson(0, 10000000),
  },
  rateBurst: {
    key: "rateBurst",
    env: "SOLEC_RATE_BURST",
    flag: "rate-burst",
    arg: "N",
    default: 500,
    defaultText: "500",
    expected: "an integer 1-10000000",
    description:
      "Requests a client connection may send at once above the rate; more refusals than this within 10 s close the connection. Server links get 20x.",
    text: intText(1, 10000000),
    json: intJson(1, 10000000),
  },
  maxOutputBytes: {
    key: "maxOutputBytes",
    env: "SOLEC_MAX_OUTPUT_BYTES",
    flag: "max-output-bytes",
    arg: "BYTES",
    default: 1048576,
    defaultText: "1048576",
    expected: "an integer 65536-1073741824",
    description:
      "Unsent output per connection before it is closed as a slow reader (what it missed stays in history and inbox).",
    text: intText(65536, 1073741824),
    json: intJson(65536, 1073741824),
  },
  outboxMaxAgeMs: {
    key: "outboxMaxAgeMs",
    env: "SOLEC_OUTBOX_MAX_AGE_MS",
    flag: "outbox-max-age-ms",
    arg: "MS",
    default: 604800000,
    defaultText: "604800000",
    expected: "an integer 60000-31536000000",
    description:
      "Messages queued for an unreachable peer are dropped (and counted) after this long.",
    text: intText(60000, 31536000000),
    json: intJson(60000, 31536000000),
  },
  helperThreadNice: {
    key: "helperThreadNice",
    env: "SOLEC_HELPER_THREAD_NICE",
    flag: "helper-thread-nice",
    arg: "N",
    default: 10,
    defaultText: "10",
    expected: "an integer 0-19",
    description:
      "Linux, Bun: nice value for the runtime's helper threads (JIT compilers, hashing pool), so the event loop gets the core back as soon as it has work; the allocator's scavenger runs in SCHED_IDLE instead; 0 leaves all of them alone (Deno lowers none).",
    text: intText(0, 19),
    json: intJson(0, 19),
  },
};

/** Scalar field keys in documentation order. */
export const SCALAR_KEYS = Object.keys(FIELDS) as ScalarKey[];

/** The configuration when no source sets anything. */
export const DEFAULT_CONFIG: Config = Object.freeze({
  ...(Object.fromEntries(SCALAR_KEYS.map((k) => [k, FIELDS[k].default])) as {
    [K in ScalarKey]: Config[K];
  }),
  peers: Object.freeze([]),
});

// ---------------------------------------------------------------------------
// Peers and the config file

const PEER_DOMAIN_MSG = "expected a DNS host name such as chat.example.org";

export const PeerSchema = z.strictObject({
  domain: z.string({ error: PEER_DOMAIN_MSG }).trim().toLowerCase().refine(isDomainName, {
    error: PEER_DOMAIN_MSG,
  }),
  publicKey: z.string({ error: "expected a base64 string" }).transform((s, ctx) => {
    const key = decodeKey32(s);
    if (key === null) {
      ctx.issues.push({
        code: "custom",
        message: "expected the base64 encoding of a 32-byte Ed25519 public key",
        input: s,
      });
      return z.NEVER;
    }
    return key;
  }),
  address: z.string({ error: 'expected "host:port"' }).transform((s, ctx) => {
    const address = parseHostPort(s);
    if (address === null) {
      ctx.issues.push({
        code: "custom",
        message: `expected "host:port" with a port 1-65535, got ${JSON.stringify(s)}`,
        input: s,
      });
      return z.NEVER;
    }
    return address;
  }).optional(),
  tls: z.boolean({ error: "expected true or false" }).optional(),
}, { error: "expected an object { domain, publicKey, address?, tls? }" }).transform(
  (p): PeerConfig => ({
    domain: p.domain,
    publicKey: p.publicKey,
    address: p.address ?? { host: p.domain, port: DEFAULT_SOLEC_PORT },
    tls: p.tls ?? false,
  }),
);

export const PeersSchema = z.array(PeerSchema, { error: "expected an array of peer objects" })
  .superRefine((peers, ctx) => {
    const seen = new Set<string>();
    peers.forEach((peer, i) => {
      if (seen.has(peer.domain)) {
        ctx.addIssue({
          code: "custom",
          message: `duplicate peer ${JSON.stringify(peer.domain)}`,
          path: [i, "domain"],
        });
      }
      seen.add(peer.domain);
    });
  });

/**
 * The JSON config file: an object with any subset of the config keys, unknown
 * keys rejected. (Scalar values have the types shown in {@link CONFIG_REFERENCE};
 * `httpPort` may also be `false` or `"off"`.)
 */
export const ConfigFileSchema = z.strictObject({
  domain: FIELDS.domain.json.optional(),
  host: FIELDS.host.json.optional(),
  port: FIELDS.port.json.optional(),
  httpHost: FIELDS.httpHost.json.optional(),
  httpPort: FIELDS.httpPort.json.optional(),
  store: FIELDS.store.json.optional(),
  key: FIELDS.key.json.optional(),
  tlsCert: FIELDS.tlsCert.json.optional(),
  tlsKey: FIELDS.tlsKey.json.optional(),
  logLevel: FIELDS.logLevel.json.optional(),
  maxPayload: FIELDS.maxPayload.json.optional(),
  authTimeoutMs: FIELDS.authTimeoutMs.json.optional(),
  historyMaxCount: FIELDS.historyMaxCount.json.optional(),
  channelAutoCreate: FIELDS.channelAutoCreate.json.optional(),
  passwordCost: FIELDS.passwordCost.json.optional(),
  shutdownTimeoutMs: FIELDS.shutdownTimeoutMs.json.optional(),
  maxConnections: FIELDS.maxConnections.json.optional(),
  maxConnectionsPerIp: FIELDS.maxConnectionsPerIp.json.optional(),
  maxMessageBytes: FIELDS.maxMessageBytes.json.optional(),
  rateLimit: FIELDS.rateLimit.json.optional(),
  rateBurst: FIELDS.rateBurst.json.optional(),
  maxOutputBytes: FIELDS.maxOutputBytes.json.optional(),
  outboxMaxAgeMs: FIELDS.outboxMaxAgeMs.json.optional(),
  helperThreadNice: FIELDS.helperThreadNice.json.optional(),
  peers: PeersSchema.optional(),
});

export type ConfigFile = z.output<typeof ConfigFileSchema>;

// ---------------------------------------------------------------------------
// Documentation and flags

export interface ConfigReferenceEntry {
  /** Key in the JSON config file (`config` is the file itself and has no key). */
  readonly name: string;
  /** Environment variable, or null when the setting is file-only. */
  readonly env: string | null;
  /** Flag including the leading `--`, or null when the setting is file-only. */
  readonly flag: string | null;
  /** Value placeholder for help output, or null. */
  readonly arg: string | null;
  readonly default: string;
  readonly description: string;
}

export const CONFIG_ENV = "SOLEC_CONFIG";
export const CONFIG_FLAG = "config";

/** Every setting, for the README table and `solec --help`. */
export const CONFIG_REFERENCE: readonly ConfigReferenceEntry[] = [
  {
    name: "config",
    env: CONFIG_ENV,
    flag: `--${CONFIG_FLAG}`,
    arg: "PATH",
    default: "(none)",
    description:
      "JSON config file with any of the keys below. Precedence: defaults < file < environment < flags.",
  },
  ...SCALAR_KEYS.map((k): ConfigReferenceEntry => {
    const f: FieldSpec<ScalarKey> = FIELDS[k];
    return {
      name: f.key,
      env: f.env,
      flag: `--${f.flag}`,
      arg: f.arg,
      default: f.defaultText,
      description: f.description,
    };
  }),
  {
    name: "peers",
    env: null,
    flag: null,
    arg: null,
    default: "[]",
    description:
      'Config file only. Known peer servers: [{ "domain", "publicKey" (base64 of the 32-byte Ed25519 key), "address"? ("host:port", default <domain>:9999), "tls"? (default false) }].',
  },
];

export interface ConfigFlag {
  /** Flag name without the leading `--`. */
  readonly name: string;
  /** Every config flag takes a value (`--port 1` or `--port=1`). */
  readonly takesValue: boolean;
  /** The config key it sets, or "config" for the config file path. */
  readonly key: ScalarKey | "config";
}

/** The flags the config loader consumes (for a CLI combining its own flags). */
export const CONFIG_FLAGS: readonly ConfigFlag[] = [
  { name: CONFIG_FLAG, takesValue: true, key: "config" },
  ...SCALAR_KEYS.map((k): ConfigFlag => ({ name: FIELDS[k].flag, takesValue: true, key: k })),
];
