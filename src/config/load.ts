/**
 * Loading the server configuration from its four layers:
 *
 *     defaults < JSON config file < environment < command-line flags
 *
 * The config file is named by `--config PATH` or, failing that, `SOLEC_CONFIG`.
 * Every source is validated in full and every problem is collected, so one
 * {@link ConfigError} names all bad settings at once, each the way the user
 * wrote it (`SOLEC_PORT`, `--max-payload`, `config file ./solec.json: port`).
 * A bad value is reported even when a higher layer overrides it.
 *
 * Environment variables set to the empty string count as unset (container
 * templates often export empty variables); an empty flag value (`--port=`) is
 * an error. Relative paths (config file, store, key, TLS files) are left as
 * written, i.e. relative to the working directory, not to the config file.
 *
 * Nothing here touches `process`: callers pass argv and env in.
 */
import { readFileSync } from "node:fs";
import { parseArgs } from "node:util";
import {
  type Config,
  CONFIG_ENV,
  CONFIG_FLAG,
  CONFIG_FLAGS,
  ConfigFileSchema,
  DEFAULT_CONFIG,
  FIELDS,
  type FieldSpec,
  type PeerConfig,
  SCALAR_KEYS,
  type ScalarKey,
} from "./schema.ts";

export interface LoadConfigInput {
  /** Command-line arguments after the program (and subcommand) name. */
  readonly argv: readonly string[];
  /** Environment variables, e.g. `process.env`. */
  readonly env: Readonly<Record<string, string | undefined>>;
  /** Reads the config file as UTF-8; defaults to `fs.readFileSync`. */
  readonly readFile?: (path: string) => string;
}

/** One problem: `source` is how the user wrote the setting. */
export interface ConfigIssue {
  readonly source: string;
  readonly message: string;
}

/** Invalid configuration; `message` lists every issue, one per line. */
export class ConfigError extends Error {
  readonly issues: readonly ConfigIssue[];

  constructor(issues: readonly ConfigIssue[]) {
    super(
      "invalid configuration:\n" +
        issues.map((i) => `  ${i.source}: ${i.message}`).join("\n"),
    );
    this.name = "ConfigError";
    this.issues = issues;
  }
}

/** A CLI-specific option passed through {@link parseServerArgs} (node:util parseArgs style). */
export interface ExtraOption {
  readonly type: "string" | "boolean";
  readonly short?: string;
  readonly multiple?: boolean;
  readonly default?: string | boolean | readonly string[] | readonly boolean[];
}

export type ExtraOptions = Readonly<Record<string, ExtraOption>>;

type ExtraValue<O> = O extends { readonly type: "boolean" }
  ? (O extends { readonly multiple: true } ? boolean[] : boolean)
  : (O extends { readonly multiple: true } ? string[] : string);

/** Values of the CLI's own options: present when given (or defaulted). */
export type ExtraValues<O extends ExtraOptions> =
  & {
    -readonly [K in keyof O as O[K] extends { readonly default: unknown } ? K : never]: ExtraValue<
      O[K]
    >;
  }
  & {
    -readonly [K in keyof O as O[K] extends { readonly default: unknown } ? never : K]?: ExtraValue<
      O[K]
    >;
  };

export interface ParsedServerArgs<O extends ExtraOptions> {
  readonly config: Config;
  /** Non-flag arguments, in order (including everything after `--`). */
  readonly positionals: string[];
  /** Values of `extraOptions`. */
  readonly extra: ExtraValues<O>;
}

/**
 * Load the configuration. Positional arguments are ignored; any flag that is
 * not a config flag is an error (a CLI with flags of its own uses
 * {@link parseServerArgs}).
 * @throws ConfigError naming every invalid setting.
 */
export function loadConfig(input: LoadConfigInput): Config {
  return parseServerArgs(input).config;
}

/**
 * Parse argv with `node:util` `parseArgs` (config flags plus the CLI's own
 * `extraOptions`), then load the configuration.
 *
 * Flag problems (unknown flags, a missing value, a value given to a boolean
 * option) are reported in the same {@link ConfigError} as bad values.
 * @throws ConfigError naming every problem.
 * @throws TypeError if an extra option reuses a config flag name.
 */
export function parseServerArgs<const O extends ExtraOptions = Record<never, ExtraOption>>(
  input: LoadConfigInput,
  extraOptions?: O,
): ParsedServerArgs<O> {
  const issues: ConfigIssue[] = [];
  const extraDefs: ExtraOptions = extraOptions ?? {};
  // Problems are listed file first, then environment, then flags.
  const argvIssues: ConfigIssue[] = [];
  const args = scanArgv(input.argv, extraDefs, argvIssues);

  // Which config file, if any.
  let configPath: string | undefined;
  if (args.configFlag !== undefined) {
    if (args.configFlag === "") {
      argvIssues.push({ source: `--${CONFIG_FLAG}`, message: "expected a file path, got nothing" });
    } else configPath = args.configFlag;
  } else {
    const fromEnv = input.env[CONFIG_ENV];
    if (fromEnv !== undefined && fromEnv !== "") configPath = fromEnv;
  }

  // Layers, lowest first. `sources` remembers who set each key (for messages).
  const values: { -readonly [K in keyof Config]: Config[K] } = { ...DEFAULT_CONFIG };
  const sources = new Map<ScalarKey, string>();

  if (configPath !== undefined) {
    const file = readConfigFile(configPath, input.readFile ?? defaultReadFile, issues);
    if (file) {
      for (const key of SCALAR_KEYS) {
        if (file[key] !== undefined) {
          setValue(values, key, file[key]);
          sources.set(key, fileLabel(configPath, key));
        }
      }
      if (file.peers !== undefined) values.peers = file.peers;
    }
  }

  for (const key of SCALAR_KEYS) {
    const spec: FieldSpec<ScalarKey> = FIELDS[key];
    const raw = input.env[spec.env];
    if (raw === undefined || raw === "") continue;
    if (applyText(values, key, raw, spec.env, issues)) sources.set(key, spec.env);
  }

  issues.push(...argvIssues);
  for (const key of SCALAR_KEYS) {
    const flag = args.flags.get(key);
    if (flag === undefined) continue;
    if (applyText(values, key, flag.raw, flag.label, issues)) sources.set(key, flag.label);
  }

  // Rules spanning fields.
  const certSource = sources.get("tlsCert");
  const keySource = sources.get("tlsKey");
  if ((values.tlsCert === undefined) !== (values.tlsKey === undefined)) {
    const [given, missing] = values.tlsCert !== undefined
      ? [certSource ?? "tlsCert", FIELDS.tlsKey]
      : [keySource ?? "tlsKey", FIELDS.tlsCert];
    const what = missing.key === "tlsKey"
      ? "TLS certificate set without a TLS key"
      : "TLS key set without a TLS certificate";
    issues.push({
      source: given,
      message: `${what} (--${missing.flag}, ${missing.env} or ${missing.key} in the config file);` +
        " set both --tls-cert and --tls-key, or neither",
    });
  }
  if (configPath !== undefined) {
    values.peers.forEach((peer: PeerConfig, i: number) => {
      if (peer.domain === values.domain) {
        issues.push({
          source: `config file ${configPath}: peers[${i}].domain`,
          message: `${JSON.stringify(peer.domain)} is this server's own domain`,
        });
      }
    });
  }

  if (issues.length > 0) throw new ConfigError(issues);
  values.peers = Object.freeze([...values.peers]);
  return {
    config: Object.freeze(values),
    positionals: args.positionals,
    extra: args.extra as ExtraValues<O>,
  };
}

// ---------------------------------------------------------------------------

function defaultReadFile(path: string): string {
  return readFileSync(path, "utf8");
}

function fileLabel(path: string, key: string): string {
  return `config file ${path}: ${key}`;
}

function setValue<K extends ScalarKey>(
  target: { -readonly [P in keyof Config]?: Config[P] },
  key: K,
  value: Config[K],
): void {
  target[key] = value;
}

/** Parse a string value (env or flag); on success store it and return true. */
function applyText<K extends ScalarKey>(
  target: { -readonly [P in keyof Config]: Config[P] },
  key: K,
  raw: string,
  label: string,
  issues: ConfigIssue[],
): boolean {
  const spec: FieldSpec<K> = FIELDS[key];
  const result = spec.text.safeParse(raw);
  if (!result.success) {
    issues.push({ source: label, message: `expected ${spec.expected}, got ${show(raw)}` });
    return false;
  }
  setValue(target, key, result.data);
  return true;
}

/** A value for an error message: JSON, shortened. */
function show(value: unknown): string {
  const text = value === undefined ? "nothing" : JSON.stringify(value) ?? String(value);
  return text.length > 60 ? `${text.slice(0, 57)}...` : text;
}

function isPlainObject(value: unknown): value is Record<string, unknown> {
  return typeof value === "object" && value !== null && !Array.isArray(value);
}

/** Valid settings found in the config file (invalid ones are reported instead). */
type FileSettings = { -readonly [K in keyof Config]?: Config[K] };

function readConfigFile(
  path: string,
  readFile: (path: string) => string,
  issues: ConfigIssue[],
): FileSettings | undefined {
  const label = `config file ${path}`;
  let text: string;
  try {
    text = readFile(path);
  } catch (err) {
    const code = (err as { code?: unknown }).code;
    const reason = code === "ENOENT"
      ? "no such file"
      : err instanceof Error
      ? err.message
      : String(err);
    issues.push({ source: label, message: `cannot read: ${reason}` });
    return undefined;
  }
  let json: unknown;
  try {
    json = JSON.parse(text.replace(/^\uFEFF/, ""));
  } catch (err) {
    issues.push({
      source: label,
      message: `not valid JSON: ${err instanceof Error ? err.message : String(err)}`,
    });
    return undefined;
  }
  if (!isPlainObject(json)) {
    issues.push({
      source: label,
      message: `expected a JSON object of settings, got ${show(json)}`,
    });
    return undefined;
  }

  // Each key is checked on its own against ConfigFileSchema's shape, so the
  // valid ones still take part in the rules spanning fields.
  const shape = ConfigFileSchema.shape;
  const settings: FileSettings = {};
  for (const [key, value] of Object.entries(json)) {
    if (!Object.hasOwn(shape, key)) {
      const hint = suggest(key, FILE_KEY_CANDIDATES);
      issues.push({
        source: `${label}: ${key}`,
        message: "unknown setting" + (hint ? ` (did you mean ${JSON.stringify(hint)}?)` : ""),
      });
    } else if (key === "peers") {
      const result = shape.peers.safeParse(value);
      if (result.success) {
        if (result.data !== undefined) settings.peers = result.data;
        continue;
      }
      for (const issue of result.error.issues) {
        const where = `${label}: peers${formatPath(issue.path)}`;
        if (issue.code === "unrecognized_keys") {
          for (const k of issue.keys) {
            issues.push({ source: `${where}.${k}`, message: "unknown setting" });
          }
        } else {
          issues.push({ source: where, message: issue.message });
        }
      }
    } else {
      const k = key as ScalarKey;
      const spec: FieldSpec<ScalarKey> = FIELDS[k];
      const result = spec.json.safeParse(value);
      if (result.success) setValue(settings, k, result.data);
      else {issues.push({
          source: `${label}: ${key}`,
          message: `expected ${spec.expected}, got ${show(value)}`,
        });}
    }
  }
  return settings;
}

function formatPath(path: readonly PropertyKey[]): string {
  return path.map((p) => (typeof p === "number" ? `[${p}]` : `.${String(p)}`)).join("");
}

// ---------------------------------------------------------------------------
// argv

interface ScannedArgs {
  readonly flags: Map<ScalarKey, { raw: string; label: string }>;
  readonly configFlag: string | undefined;
  readonly positionals: string[];
  readonly extra: Record<string, unknown>;
}

const CONFIG_FLAG_KEYS = new Map(CONFIG_FLAGS.map((f) => [f.name, f.key]));

function scanArgv(
  argv: readonly string[],
  extra: ExtraOptions,
  issues: ConfigIssue[],
): ScannedArgs {
  type Def = {
    type: "string" | "boolean";
    short?: string;
    multiple?: boolean;
    default?: string | boolean | string[] | boolean[];
  };
  const options: Record<string, Def> = {};
  for (const f of CONFIG_FLAGS) options[f.name] = { type: "string" };
  for (const [name, def] of Object.entries(extra)) {
    if (CONFIG_FLAG_KEYS.has(name)) {
      throw new TypeError(`extra option --${name} clashes with a config flag`);
    }
    const copy: Def = { type: def.type };
    if (def.short !== undefined) copy.short = def.short;
    if (def.multiple !== undefined) copy.multiple = def.multiple;
    if (def.default !== undefined) {
      copy.default =
        (Array.isArray(def.default) ? [...def.default] : def.default) as Def["default"];
    }
    options[name] = copy;
  }

  const parsed = parseArgs({
    args: [...argv],
    options,
    strict: false,
    allowPositionals: true,
    tokens: true,
  });

  const flags = new Map<ScalarKey, { raw: string; label: string }>();
  let configFlag: string | undefined;
  const reported = new Set<string>();
  const report = (source: string, message: string) => {
    if (reported.has(source + message)) return;
    reported.add(source + message);
    issues.push({ source, message });
  };

  for (const token of parsed.tokens ?? []) {
    if (token.kind !== "option") continue;
    const { name, rawName, value } = token;
    const inline = token.inlineValue === true;
    const key = CONFIG_FLAG_KEYS.get(name);
    const def = Object.hasOwn(extra, name) ? extra[name] : undefined;
    if (key === undefined && def === undefined) {
      const hint = rawName.startsWith("--") ? suggest(name, FLAG_CANDIDATES(extra)) : undefined;
      report(rawName, "unknown flag" + (hint ? ` (did you mean --${hint}?)` : ""));
      continue;
    }
    const takesValue = key !== undefined || def?.type === "string";
    if (!takesValue) {
      if (value !== undefined) report(rawName, `takes no value, got ${show(value)}`);
      continue;
    }
    if (value === undefined) {
      report(rawName, "expected a value");
      continue;
    }
    if (!inline && value.length > 1 && value.startsWith("-")) {
      // What parseArgs' strict mode calls ambiguous: probably a forgotten value.
      report(
        rawName,
        `expected a value, got the flag-like ${
          show(value)
        } (write ${rawName}=${value} if that is the value)`,
      );
      continue;
    }
    if (key === "config") configFlag = value;
    else if (key !== undefined) flags.set(key, { raw: value, label: rawName });
  }

  const extraValues: Record<string, unknown> = {};
  const rawValues = parsed.values as Record<string, unknown>;
  for (const name of Object.keys(extra)) {
    if (rawValues[name] !== undefined) extraValues[name] = rawValues[name];
  }
  return { flags, configFlag, positionals: [...parsed.positionals], extra: extraValues };
}

// ---------------------------------------------------------------------------
// "did you mean"

/** [spelling, suggestion] pairs: each setting under its key, flag and env names. */
type Candidates = ReadonlyArray<readonly [string, string]>;

const FILE_KEY_CANDIDATES: Candidates = [
  ...SCALAR_KEYS.flatMap((k) =>
    [FIELDS[k].key, FIELDS[k].flag, FIELDS[k].env].map((a) => [a, k] as const)
  ),
  ["peers", "peers"],
];

function FLAG_CANDIDATES(extra: ExtraOptions): Candidates {
  return [
    ...SCALAR_KEYS.flatMap((k) =>
      [FIELDS[k].key, FIELDS[k].flag, FIELDS[k].env].map((a) => [a, FIELDS[k].flag] as const)
    ),
    [CONFIG_FLAG, CONFIG_FLAG],
    [CONFIG_ENV, CONFIG_FLAG],
    ...Object.keys(extra).map((name) => [name, name] as const),
  ];
}

function squash(s: string): string {
  return s.toLowerCase().replace(/^solec_/, "").replace(/[-_]/g, "");
}

/** The setting that `word` most likely misspells, if any. */
function suggest(word: string, candidates: Candidates): string | undefined {
  const w = squash(word);
  let best: string | undefined;
  let bestDistance = Infinity;
  for (const [spelling, target] of candidates) {
    const d = editDistance(w, squash(spelling));
    if (d < bestDistance) {
      best = target;
      bestDistance = d;
    }
  }
  const allowed = w.length <= 4 ? 1 : 2;
  return bestDistance <= allowed ? best : undefined;
}

/** Optimal-string-alignment distance: edits, with a swap of neighbours counting as one. */
function editDistance(a: string, b: string): number {
  const d: number[][] = Array.from(
    { length: a.length + 1 },
    (_, i) => Array.from({ length: b.length + 1 }, (_, j) => (i === 0 ? j : j === 0 ? i : 0)),
  );
  for (let i = 1; i <= a.length; i++) {
    for (let j = 1; j <= b.length; j++) {
      const cost = a[i - 1] === b[j - 1] ? 0 : 1;
      let best = Math.min(d[i - 1]![j]! + 1, d[i]![j - 1]! + 1, d[i - 1]![j - 1]! + cost);
      if (i > 1 && j > 1 && a[i - 1] === b[j - 2] && a[i - 2] === b[j - 1]) {
        best = Math.min(best, d[i - 2]![j - 2]! + 1);
      }
      d[i]![j] = best;
    }
  }
  return d[a.length]![b.length]!;
}
