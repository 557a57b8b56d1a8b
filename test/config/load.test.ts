import { describe, it } from "node:test";
import assert from "node:assert/strict";
import { Buffer } from "node:buffer";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import {
  type Config,
  CONFIG_FLAGS,
  CONFIG_REFERENCE,
  ConfigFileSchema,
  DEFAULT_CONFIG,
  FIELDS,
  isDomainName,
  SCALAR_KEYS,
  type ScalarKey,
} from "../../src/config/schema.ts";
import {
  ConfigError,
  loadConfig,
  type LoadConfigInput,
  parseServerArgs,
} from "../../src/config/load.ts";
import { DEFAULT_PASSWORD_COST } from "../../src/server/password.ts";

type Env = Record<string, string | undefined>;

function input(
  argv: string[] = [],
  env: Env = {},
  files: Record<string, string> = {},
): LoadConfigInput {
  return {
    argv,
    env,
    readFile: (path: string) => {
      const text = files[path];
      if (text === undefined) {
        throw Object.assign(new Error(`ENOENT: no such file or directory, open '${path}'`), {
          code: "ENOENT",
        });
      }
      return text;
    },
  };
}

function load(argv: string[] = [], env: Env = {}, files: Record<string, string> = {}): Config {
  return loadConfig(input(argv, env, files));
}

function configError(fn: () => unknown): ConfigError {
  try {
    fn();
  } catch (err) {
    assert.ok(err instanceof ConfigError, `expected ConfigError, got ${String(err)}`);
    assert.equal(err.name, "ConfigError");
    assert.ok(err.message.startsWith("invalid configuration:\n"), err.message);
    assert.equal(err.message.split("\n").length, err.issues.length + 1);
    return err;
  }
  assert.fail("expected a ConfigError");
}

function sources(err: ConfigError): string[] {
  return err.issues.map((i) => i.source);
}

const KEY32 = Buffer.alloc(32, 7).toString("base64");

/** A sample text value per field and what it must parse to. */
const SAMPLES: { [K in ScalarKey]: { text: string; value: Config[K]; json: unknown } } = {
  domain: { text: "Chat.Example.ORG", value: "chat.example.org", json: "Chat.Example.ORG" },
  host: { text: "[::1]", value: "::1", json: "::1" },
  port: { text: "1234", value: 1234, json: 1234 },
  httpHost: { text: "10.1.2.3", value: "10.1.2.3", json: "10.1.2.3" },
  httpPort: { text: "off", value: false, json: false },
  store: { text: "memory:", value: "memory:", json: "memory:" },
  key: {
    text: "/etc/solec/server.key",
    value: "/etc/solec/server.key",
    json: "/etc/solec/server.key",
  },
  tlsCert: { text: "cert.pem", value: "cert.pem", json: "cert.pem" },
  tlsKey: { text: "key.pem", value: "key.pem", json: "key.pem" },
  logLevel: { text: "DEBUG", value: "debug", json: "debug" },
  maxPayload: { text: "65535", value: 65535, json: 65535 },
  authTimeoutMs: { text: "250", value: 250, json: 250 },
  historyMaxCount: { text: "50", value: 50, json: 50 },
  channelAutoCreate: { text: "no", value: false, json: false },
  passwordCost: { text: "10", value: 10, json: 10 },
  shutdownTimeoutMs: { text: "2500", value: 2500, json: 2500 },
  maxConnections: { text: "0", value: 0, json: 0 },
  maxConnectionsPerIp: { text: "7", value: 7, json: 7 },
  maxMessageBytes: { text: "1000", value: 1000, json: 1000 },
  rateLimit: { text: "0", value: 0, json: 0 },
  rateBurst: { text: "20", value: 20, json: 20 },
  maxOutputBytes: { text: "65536", value: 65536, json: 65536 },
  outboxMaxAgeMs: { text: "86400000", value: 86400000, json: 86400000 },
  helperThreadNice: { text: "0", value: 0, json: 0 },
};

/** TLS settings must come in pairs; everything else stands alone. */
function partner(key: ScalarKey): ScalarKey | undefined {
  return key === "tlsCert" ? "tlsKey" : key === "tlsKey" ? "tlsCert" : undefined;
}

describe("loadConfig: defaults", () => {
  it("gives the documented defaults with no input", () => {
    const config = load();
    assert.deepEqual(config, DEFAULT_CONFIG);
    assert.equal(config.domain, "localhost");
    assert.equal(config.host, "0.0.0.0");
    assert.equal(config.port, 9999);
    assert.equal(config.httpHost, "127.0.0.1");
    assert.equal(config.httpPort, 9998);
    assert.equal(config.store, "sqlite:./solec.db");
    assert.equal(config.key, "./solec.key");
    assert.equal(config.tlsCert, undefined);
    assert.equal(config.tlsKey, undefined);
    assert.equal(config.logLevel, "info");
    assert.equal(config.maxPayload, 8192);
    assert.equal(config.authTimeoutMs, 10_000);
    assert.equal(config.historyMaxCount, 500);
    assert.equal(config.channelAutoCreate, true);
    assert.equal(config.passwordCost, DEFAULT_PASSWORD_COST);
    assert.deepEqual(config.peers, []);
  });

  it("ignores unrelated environment variables and empty SOLEC_ ones", () => {
    const config = load([], { PATH: "/bin", HOME: "/root", SOLEC_PORT: "", SOLEC_DOMAIN: "" });
    assert.deepEqual(config, DEFAULT_CONFIG);
  });

  it("ignores positional arguments", () => {
    assert.deepEqual(load(["serve", "extra"]), DEFAULT_CONFIG);
  });
});

describe("loadConfig: every field from env, flag and file", () => {
  for (const key of SCALAR_KEYS) {
    const spec = FIELDS[key];
    const sample = SAMPLES[key];
    const other = partner(key);

    it(`${key} from ${spec.env}`, () => {
      const env: Env = { [spec.env]: sample.text };
      if (other) env[FIELDS[other].env] = SAMPLES[other].text;
      assert.deepEqual(load([], env)[key], sample.value);
    });

    it(`${key} from --${spec.flag} VALUE and --${spec.flag}=VALUE`, () => {
      const argv = [`--${spec.flag}`, sample.text];
      if (other) argv.push(`--${FIELDS[other].flag}=${SAMPLES[other].text}`);
      assert.deepEqual(load(argv)[key], sample.value);
      const inline = [`--${spec.flag}=${sample.text}`];
      if (other) inline.push(`--${FIELDS[other].flag}`, SAMPLES[other].text);
      assert.deepEqual(load(inline)[key], sample.value);
    });

    it(`${key} from the config file`, () => {
      const json: Record<string, unknown> = { [key]: sample.json };
      if (other) json[other] = SAMPLES[other].json;
      const config = load(["--config", "c.json"], {}, { "c.json": JSON.stringify(json) });
      assert.deepEqual(config[key], sample.value);
    });

    it(`${key}: a bad value names ${spec.env} / --${spec.flag} / the file key`, () => {
      const bad = key === "key" || key === "tlsCert" || key === "tlsKey" ? "" : "\u0000bad value";
      if (bad === "") {
        // Paths: only the empty string is invalid; empty env counts as unset.
        const err = configError(() => load([`--${spec.flag}=`]));
        assert.deepEqual(sources(err).slice(0, 1), [`--${spec.flag}`]);
        return;
      }
      const err = configError(() =>
        load(["--config", "c.json", `--${spec.flag}`, bad], { [spec.env]: bad }, {
          "c.json": JSON.stringify({ [key]: bad }),
        })
      );
      assert.deepEqual(sources(err), [`config file c.json: ${key}`, spec.env, `--${spec.flag}`]);
      for (const issue of err.issues) {
        assert.equal(issue.message, `expected ${spec.expected}, got ${JSON.stringify(bad)}`);
      }
    });
  }
});

describe("loadConfig: precedence defaults < file < env < flags", () => {
  const files = { "a.json": JSON.stringify({ port: 1001, logLevel: "warn", domain: "file.test" }) };

  it("the file overrides defaults", () => {
    const config = load(["--config", "a.json"], {}, files);
    assert.equal(config.port, 1001);
    assert.equal(config.logLevel, "warn");
    assert.equal(config.domain, "file.test");
    assert.equal(config.maxPayload, 8192);
  });

  it("the environment overrides the file", () => {
    const config = load(["--config", "a.json"], { SOLEC_PORT: "1002" }, files);
    assert.equal(config.port, 1002);
    assert.equal(config.logLevel, "warn");
  });

  it("flags override the environment", () => {
    const config = load(
      ["--config", "a.json", "--port", "1003"],
      { SOLEC_PORT: "1002", SOLEC_LOG_LEVEL: "error" },
      files,
    );
    assert.equal(config.port, 1003);
    assert.equal(config.logLevel, "error");
    assert.equal(config.domain, "file.test");
  });

  it("the last of a repeated flag wins", () => {
    assert.equal(load(["--port", "1", "--port=2"]).port, 2);
  });

  it("SOLEC_CONFIG names the file; --config wins over it", () => {
    const two = { ...files, "b.json": JSON.stringify({ port: 2002 }) };
    assert.equal(load([], { SOLEC_CONFIG: "a.json" }, two).port, 1001);
    assert.equal(load(["--config=b.json"], { SOLEC_CONFIG: "a.json" }, two).port, 2002);
  });

  it("reads the file with node:fs by default", () => {
    const dir = mkdtempSync(join(tmpdir(), "solec-config-"));
    try {
      const path = join(dir, "solec.json");
      writeFileSync(path, '\uFEFF{ "port": 4242, "channelAutoCreate": false }\n');
      const config = loadConfig({ argv: ["--config", path], env: {} });
      assert.equal(config.port, 4242);
      assert.equal(config.channelAutoCreate, false);
      const err = configError(() =>
        loadConfig({ argv: [], env: { SOLEC_CONFIG: join(dir, "missing.json") } })
      );
      assert.deepEqual(err.issues, [{
        source: `config file ${join(dir, "missing.json")}`,
        message: "cannot read: no such file",
      }]);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});

describe("loadConfig: value formats", () => {
  it("booleans accept true/false/1/0/yes/no in any case", () => {
    const cases: [string, boolean][] = [
      ["true", true],
      ["TRUE", true],
      ["1", true],
      ["yes", true],
      ["Yes", true],
      [" no ", false],
      ["false", false],
      ["0", false],
      ["NO", false],
    ];
    for (const [text, value] of cases) {
      assert.equal(load([], { SOLEC_CHANNEL_AUTO_CREATE: text }).channelAutoCreate, value, text);
      assert.equal(load([`--channel-auto-create=${text}`]).channelAutoCreate, value, text);
    }
    for (const text of ["on", "y", "2", "truee", "constructor", "toString"]) {
      configError(() => load([], { SOLEC_CHANNEL_AUTO_CREATE: text }));
    }
  });

  it("booleans in the file must be JSON booleans", () => {
    const ok = load(["--config", "c"], {}, { c: '{"channelAutoCreate": false}' });
    assert.equal(ok.channelAutoCreate, false);
    const err = configError(() =>
      load(["--config", "c"], {}, { c: '{"channelAutoCreate": "no"}' })
    );
    assert.deepEqual(err.issues, [{
      source: "config file c: channelAutoCreate",
      message: 'expected true/false, yes/no or 1/0, got "no"',
    }]);
  });

  it("a boolean flag needs its value", () => {
    const err = configError(() => load(["--channel-auto-create"]));
    assert.deepEqual(err.issues, [{
      source: "--channel-auto-create",
      message: "expected a value",
    }]);
  });

  it("integers: decimal digits only, within range", () => {
    assert.equal(load(["--port", "0"]).port, 0);
    assert.equal(load(["--port", "65535"]).port, 65535);
    assert.equal(load(["--port", " 080 "]).port, 80);
    for (const bad of ["65536", "-1", "1.5", "1e3", "0x10", "abc", "12abc", "+5", "1_000"]) {
      const err = configError(() => load([`--port=${bad}`]));
      assert.deepEqual(err.issues, [{
        source: "--port",
        message: `expected an integer 0-65535, got ${JSON.stringify(bad)}`,
      }]);
    }
    configError(() => load(["--config", "c"], {}, { c: '{"port": 1.5}' }));
    configError(() => load(["--config", "c"], {}, { c: '{"port": "80"}' }));
    configError(() => load(["--max-payload", "0"]));
    configError(() => load(["--max-payload", "65536"]));
    configError(() => load(["--password-cost", "9"]));
    configError(() => load(["--password-cost", "18"]));
    assert.equal(load(["--password-cost", "17"]).passwordCost, 17);
  });

  it('httpPort: a port, 0, or "off"/false to disable', () => {
    assert.equal(load(["--http-port", "0"]).httpPort, 0);
    assert.equal(load(["--http-port", "8080"]).httpPort, 8080);
    assert.equal(load(["--http-port", "OFF"]).httpPort, false);
    assert.equal(load([], { SOLEC_HTTP_PORT: "false" }).httpPort, false);
    assert.equal(load(["--config", "c"], {}, { c: '{"httpPort": "off"}' }).httpPort, false);
    assert.equal(load(["--config", "c"], {}, { c: '{"httpPort": false}' }).httpPort, false);
    assert.equal(load(["--config", "c"], {}, { c: '{"httpPort": 0}' }).httpPort, 0);
    configError(() => load(["--config", "c"], {}, { c: '{"httpPort": true}' }));
    configError(() => load(["--http-port", "no"]));
  });

  it("domain: DNS-style host name, stored lower-case", () => {
    assert.equal(load(["--domain", "A.Test"]).domain, "a.test");
    assert.equal(load(["--domain", "xn--bcher-kva.example"]).domain, "xn--bcher-kva.example");
    for (
      const bad of [
        "",
        "-a.test",
        "a-.test",
        "a..test",
        "a_b.test",
        "a.test.",
        "é.test",
        "a".repeat(64),
      ]
    ) {
      if (bad === "") continue; // empty env = unset; empty flag checked below
      configError(() => load(["--domain", bad]));
    }
    configError(() => load(["--domain="]));
    assert.ok(isDomainName("a".repeat(63) + ".test"));
    assert.ok(!isDomainName(Array.from({ length: 64 }, () => "abc").join(".")));
  });

  it("hosts: IP literals or host names", () => {
    assert.equal(load(["--host", "::"]).host, "::");
    assert.equal(load(["--host", "Example.Test"]).host, "example.test");
    assert.equal(load(["--http-host", "[fe80::1]"]).httpHost, "fe80::1");
    configError(() => load(["--host", "not a host"]));
    configError(() => load(["--host", "[example.test]"]));
  });

  it("store: memory: or sqlite:", () => {
    assert.equal(load(["--store", "sqlite:/var/lib/solec.db"]).store, "sqlite:/var/lib/solec.db");
    const err = configError(() => load([], { SOLEC_STORE: "postgres://db" }));
    assert.deepEqual(err.issues, [{
      source: "SOLEC_STORE",
      message: 'expected "memory:" or "sqlite:<path>", got "postgres://db"',
    }]);
  });

  it("logLevel: one of debug/info/warn/error", () => {
    for (const level of ["debug", "info", "warn", "error"]) {
      assert.equal(load(["--log-level", level]).logLevel, level);
    }
    configError(() => load(["--log-level", "verbose"]));
    configError(() => load(["--config", "c"], {}, { c: '{"logLevel": "DEBUG"}' }));
  });
});

describe("loadConfig: errors name every bad field at once", () => {
  it("collects file, env and flag problems into one ConfigError", () => {
    const err = configError(() =>
      load(
        ["--max-payload", "0", "--domain", "bad_domain!", "--bogus"],
        { SOLEC_PORT: "abc", SOLEC_LOG_LEVEL: "verbose", SOLEC_CONFIG: "/etc/solec.json" },
        { "/etc/solec.json": JSON.stringify({ port: "9999", historyMax: 5 }) },
      )
    );
    assert.deepEqual(sources(err), [
      "config file /etc/solec.json: port",
      "config file /etc/solec.json: historyMax",
      "SOLEC_PORT",
      "SOLEC_LOG_LEVEL",
      "--bogus",
      "--domain",
      "--max-payload",
    ]);
    assert.equal(
      err.message,
      [
        "invalid configuration:",
        '  config file /etc/solec.json: port: expected an integer 0-65535, got "9999"',
        '  config file /etc/solec.json: historyMax: unknown setting (did you mean "historyMaxCount"?)',
        '  SOLEC_PORT: expected an integer 0-65535, got "abc"',
        '  SOLEC_LOG_LEVEL: expected one of debug, info, warn, error, got "verbose"',
        "  --bogus: unknown flag",
        '  --domain: expected a DNS host name such as chat.example.org, got "bad_domain!"',
        '  --max-payload: expected an integer 1-65535, got "0"',
      ].join("\n"),
    );
  });

  it("reports a bad value even when a higher layer overrides it", () => {
    const err = configError(() => load(["--port", "1"], { SOLEC_PORT: "abc" }));
    assert.deepEqual(sources(err), ["SOLEC_PORT"]);
  });

  it("shortens long values in messages", () => {
    const err = configError(() => load(["--port", "9".repeat(200)]));
    assert.ok(err.issues[0]!.message.length < 120, err.issues[0]!.message);
  });
});

describe("loadConfig: flags", () => {
  it("rejects unknown flags, suggesting near misses", () => {
    const err = configError(() =>
      load(["--prot", "1", "--maxPayload=5", "--history-max-count", "1", "-x", "--verbose"])
    );
    assert.deepEqual(err.issues, [
      { source: "--prot", message: "unknown flag (did you mean --port?)" },
      { source: "--maxPayload", message: "unknown flag (did you mean --max-payload?)" },
      { source: "--history-max-count", message: "unknown flag (did you mean --history-max?)" },
      { source: "-x", message: "unknown flag" },
      { source: "--verbose", message: "unknown flag" },
    ]);
  });

  it("a flag at the end without its value", () => {
    const err = configError(() => load(["--port"]));
    assert.deepEqual(err.issues, [{ source: "--port", message: "expected a value" }]);
  });

  it("a flag followed by another flag instead of its value", () => {
    const err = configError(() => load(["--port", "--host", "::"]));
    assert.equal(err.issues[0]!.source, "--port");
    assert.match(err.issues[0]!.message, /write --port=--host if that is the value/);
  });

  it("values starting with a dash may be given inline", () => {
    const err = configError(() => load(["--port=-1"]));
    assert.deepEqual(err.issues, [{
      source: "--port",
      message: 'expected an integer 0-65535, got "-1"',
    }]);
  });

  it("an empty --config", () => {
    const err = configError(() => load(["--config="]));
    assert.deepEqual(err.issues, [{
      source: "--config",
      message: "expected a file path, got nothing",
    }]);
  });

  it("arguments after -- are positionals", () => {
    const { positionals, config } = parseServerArgs(input(["a", "--", "--port", "1"]));
    assert.deepEqual(positionals, ["a", "--port", "1"]);
    assert.equal(config.port, 9999);
  });
});

describe("loadConfig: TLS certificate and key come together", () => {
  it("accepts both or neither, from any layers", () => {
    assert.equal(load().tlsCert, undefined);
    const config = load(
      ["--config", "c", "--tls-key", "k.pem"],
      {},
      { c: '{"tlsCert": "c.pem"}' },
    );
    assert.equal(config.tlsCert, "c.pem");
    assert.equal(config.tlsKey, "k.pem");
  });

  it("a certificate without a key names both settings", () => {
    const err = configError(() => load(["--tls-cert", "c.pem"]));
    assert.equal(err.issues.length, 1);
    assert.equal(err.issues[0]!.source, "--tls-cert");
    assert.match(err.issues[0]!.message, /--tls-key/);
    assert.match(err.issues[0]!.message, /SOLEC_TLS_KEY/);
  });

  it("a key without a certificate names both settings", () => {
    const err = configError(() => load([], { SOLEC_TLS_KEY: "k.pem" }));
    assert.equal(err.issues[0]!.source, "SOLEC_TLS_KEY");
    assert.match(err.issues[0]!.message, /--tls-cert/);
    assert.match(err.issues[0]!.message, /SOLEC_TLS_CERT/);
    const fromFile = configError(() => load(["--config", "c"], {}, { c: '{"tlsKey": "k.pem"}' }));
    assert.equal(fromFile.issues[0]!.source, "config file c: tlsKey");
  });
});

describe("loadConfig: config file problems", () => {
  it("a missing file names the path", () => {
    const err = configError(() => load(["--config", "/nope/solec.json"]));
    assert.deepEqual(err.issues, [{
      source: "config file /nope/solec.json",
      message: "cannot read: no such file",
    }]);
  });

  it("another read error is passed through", () => {
    const err = configError(() =>
      loadConfig({
        argv: ["--config", "d"],
        env: {},
        readFile: () => {
          throw new Error("EISDIR: illegal operation on a directory");
        },
      })
    );
    assert.deepEqual(err.issues, [{
      source: "config file d",
      message: "cannot read: EISDIR: illegal operation on a directory",
    }]);
  });

  it("unparsable JSON names the path", () => {
    const err = configError(() =>
      load(["--config", "bad.json"], {}, { "bad.json": "{ port: 1 }" })
    );
    assert.equal(err.issues.length, 1);
    assert.equal(err.issues[0]!.source, "config file bad.json");
    assert.match(err.issues[0]!.message, /^not valid JSON: /);
  });

  it("the top level must be an object", () => {
    for (const text of ["[]", "null", "42", '"port"']) {
      const err = configError(() => load(["--config", "x"], {}, { x: text }));
      assert.match(err.issues[0]!.message, /^expected a JSON object of settings/);
    }
  });

  it("unknown keys are errors (strict)", () => {
    const err = configError(() =>
      load(["--config", "x"], {}, {
        x: JSON.stringify({ prot: 1, SOLEC_DOMAIN: "a", colour: "red" }),
      })
    );
    assert.deepEqual(err.issues, [
      { source: "config file x: prot", message: 'unknown setting (did you mean "port"?)' },
      {
        source: "config file x: SOLEC_DOMAIN",
        message: 'unknown setting (did you mean "domain"?)',
      },
      { source: "config file x: colour", message: "unknown setting" },
    ]);
  });

  it("an empty object is fine", () => {
    assert.deepEqual(load(["--config", "x"], {}, { x: "{}" }), DEFAULT_CONFIG);
  });

  it("the file's valid keys still count when another key is bad", () => {
    // tlsCert from the file pairs with --tls-key: no spurious TLS error.
    const err = configError(() =>
      load(["--config", "x", "--tls-key", "k"], {}, { x: '{"tlsCert": "c", "port": -1}' })
    );
    assert.deepEqual(sources(err), ["config file x: port"]);
  });
});

describe("loadConfig: peers", () => {
  function peers(list: unknown, argv: string[] = []): Config["peers"] {
    return load(["--config", "p.json", ...argv], {}, { "p.json": JSON.stringify({ peers: list }) })
      .peers;
  }
  function peerErrors(list: unknown, argv: string[] = []): ConfigError {
    return configError(() => peers(list, argv));
  }

  it("parses peers, filling in defaults", () => {
    const key2 = Buffer.alloc(32, 9).toString("base64").replace(/=+$/, "");
    const list = peers([
      { domain: "B.Test", publicKey: KEY32 },
      { domain: "c.test", publicKey: key2, address: "10.0.0.3:7000", tls: true },
      { domain: "d.test", publicKey: KEY32, address: "[2001:db8::1]:9999", tls: false },
    ]);
    assert.equal(list.length, 3);
    assert.equal(list[0]!.domain, "b.test");
    assert.deepEqual([...list[0]!.publicKey], [...Buffer.alloc(32, 7)]);
    assert.ok(list[0]!.publicKey instanceof Uint8Array);
    assert.deepEqual(list[0]!.address, { host: "b.test", port: 9999 });
    assert.equal(list[0]!.tls, false);
    assert.deepEqual([...list[1]!.publicKey], [...Buffer.alloc(32, 9)]);
    assert.deepEqual(list[1]!.address, { host: "10.0.0.3", port: 7000 });
    assert.equal(list[1]!.tls, true);
    assert.deepEqual(list[2]!.address, { host: "2001:db8::1", port: 9999 });
  });

  it("rejects bad peer entries, naming each", () => {
    const err = peerErrors([
      { domain: "b.test", publicKey: Buffer.alloc(31).toString("base64") },
      { domain: "c.test", publicKey: "not base64!" },
      { publicKey: KEY32 },
      { domain: "e.test", publicKey: KEY32, address: "e.test" },
      { domain: "f.test", publicKey: KEY32, address: "f.test:0" },
      { domain: "g.test", publicKey: KEY32, tls: "yes" },
      { domain: "h.test", publicKey: KEY32, name: "h" },
      { domain: "bad_domain", publicKey: KEY32 },
      "i.test",
    ]);
    assert.deepEqual(sources(err), [
      "config file p.json: peers[0].publicKey",
      "config file p.json: peers[1].publicKey",
      "config file p.json: peers[2].domain",
      "config file p.json: peers[3].address",
      "config file p.json: peers[4].address",
      "config file p.json: peers[5].tls",
      "config file p.json: peers[6].name",
      "config file p.json: peers[7].domain",
      "config file p.json: peers[8]",
    ]);
    assert.match(err.issues[0]!.message, /32-byte Ed25519 public key/);
    assert.match(err.issues[3]!.message, /host:port/);
    assert.equal(err.issues[6]!.message, "unknown setting");
  });

  it("rejects a non-canonical or wrong-length key", () => {
    // 'B' at the end carries bits that a 32-byte key cannot have.
    const noncanonical = KEY32.slice(0, 42) + "B=";
    peerErrors([{ domain: "b.test", publicKey: noncanonical }]);
    peerErrors([{ domain: "b.test", publicKey: Buffer.alloc(33).toString("base64") }]);
    peerErrors([{ domain: "b.test", publicKey: Buffer.alloc(32).toString("base64url") + "-" }]);
  });

  it("rejects duplicate peers and the server's own domain", () => {
    const dup = peerErrors([
      { domain: "b.test", publicKey: KEY32 },
      { domain: "B.TEST", publicKey: KEY32 },
    ]);
    assert.deepEqual(dup.issues, [{
      source: "config file p.json: peers[1].domain",
      message: 'duplicate peer "b.test"',
    }]);
    const own = peerErrors([{ domain: "a.test", publicKey: KEY32 }], ["--domain", "A.test"]);
    assert.deepEqual(own.issues, [{
      source: "config file p.json: peers[0].domain",
      message: '"a.test" is this server\'s own domain',
    }]);
  });

  it("peers must be an array", () => {
    const err = peerErrors({ domain: "b.test" });
    assert.deepEqual(err.issues, [{
      source: "config file p.json: peers",
      message: "expected an array of peer objects",
    }]);
  });
});

describe("parseServerArgs", () => {
  const extraOptions = {
    help: { type: "boolean", short: "h" },
    password: { type: "string" },
    tag: { type: "string", multiple: true, default: [] },
    force: { type: "boolean", default: false },
  } as const;

  it("returns config, positionals and the CLI's own options", () => {
    const result = parseServerArgs(
      input([
        "user",
        "add",
        "-h",
        "--port",
        "7",
        "--tag",
        "a",
        "--tag=b",
        "--password",
        "pw",
        "bob",
      ]),
      extraOptions,
    );
    assert.equal(result.config.port, 7);
    assert.deepEqual(result.positionals, ["user", "add", "bob"]);
    assert.deepEqual(result.extra, { help: true, password: "pw", tag: ["a", "b"], force: false });
    // Types: defaulted options are always present.
    const tags: string[] = result.extra.tag;
    const help: boolean | undefined = result.extra.help;
    assert.deepEqual([tags.length, help], [2, true]);
  });

  it("reports CLI option misuse together with config problems", () => {
    const err = configError(() =>
      parseServerArgs(input(["--help=yes", "--password", "--port", "x"]), extraOptions)
    );
    // "--port" was taken as the value of --password, and reported there.
    assert.deepEqual(sources(err), ["--help", "--password"]);
    assert.match(err.issues[1]!.message, /flag-like "--port"/);
    assert.equal(err.issues[0]!.message, 'takes no value, got "yes"');
  });

  it("still rejects flags nobody declared", () => {
    const err = configError(() => parseServerArgs(input(["--halp"]), extraOptions));
    assert.deepEqual(err.issues, [{
      source: "--halp",
      message: "unknown flag (did you mean --help?)",
    }]);
  });

  it("refuses extra options that reuse config flag names", () => {
    assert.throws(
      () => parseServerArgs(input([]), { port: { type: "string" } }),
      TypeError,
    );
  });

  it("loadConfig treats CLI-only flags as unknown", () => {
    const err = configError(() => load(["--help"]));
    assert.deepEqual(sources(err), ["--help"]);
  });
});

describe("CONFIG_REFERENCE and CONFIG_FLAGS", () => {
  it("document every setting exactly once", () => {
    const names = CONFIG_REFERENCE.map((e) => e.name);
    assert.deepEqual(names, ["config", ...SCALAR_KEYS, "peers"]);
    assert.deepEqual(
      Object.keys(ConfigFileSchema.shape).sort(),
      [...SCALAR_KEYS, "peers"].sort(),
    );
    const envs = CONFIG_REFERENCE.map((e) => e.env).filter((e) => e !== null);
    const flags = CONFIG_REFERENCE.map((e) => e.flag).filter((f) => f !== null);
    assert.equal(new Set(envs).size, envs.length);
    assert.equal(new Set(flags).size, flags.length);
    for (const entry of CONFIG_REFERENCE) {
      assert.ok(entry.description.length > 10, entry.name);
      assert.ok(entry.default.length > 0, entry.name);
    }
    const port = CONFIG_REFERENCE.find((e) => e.name === "port");
    assert.deepEqual(port, {
      name: "port",
      env: "SOLEC_PORT",
      flag: "--port",
      arg: "PORT",
      default: "9999",
      description: FIELDS.port.description,
    });
  });

  it("CONFIG_FLAGS match the reference and all take a value", () => {
    assert.deepEqual(
      CONFIG_FLAGS.map((f) => `--${f.name}`),
      CONFIG_REFERENCE.flatMap((e) => (e.flag === null ? [] : [e.flag])),
    );
    assert.ok(CONFIG_FLAGS.every((f) => f.takesValue));
  });

  it("documented defaults match the real defaults", () => {
    for (const key of SCALAR_KEYS) {
      const value = DEFAULT_CONFIG[key];
      const text = FIELDS[key].defaultText;
      if (value === undefined) assert.equal(text, "(unset)");
      else assert.equal(text, String(value), key);
    }
  });
});
