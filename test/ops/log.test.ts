/** Structured logs: JSON lines, level filtering, secrets kept out above debug. */
import { describe, it } from "node:test";
import assert from "node:assert/strict";
import { createLogger, type LogLevel } from "../../src/log.ts";

function capture(level: LogLevel) {
  const lines: string[] = [];
  return { log: createLogger(level, (l) => lines.push(l)), lines };
}

describe("createLogger", () => {
  it("writes one JSON object per line with time, level, msg and fields", () => {
    const { log, lines } = capture("info");
    log.info("listening", { host: "127.0.0.1", port: 9999, tls: false, note: "two\nlines" });
    assert.equal(lines.length, 1);
    assert.ok(!lines[0].includes("\n"));
    const rec = JSON.parse(lines[0]);
    assert.equal(Object.keys(rec).slice(0, 3).join(), "time,level,msg");
    assert.ok(!Number.isNaN(Date.parse(rec.time)));
    assert.deepEqual({ ...rec, time: 0 }, {
      time: 0,
      level: "info",
      msg: "listening",
      host: "127.0.0.1",
      port: 9999,
      tls: false,
      note: "two\nlines",
    });
  });

  it("drops records below the configured level", () => {
    for (
      const [level, expected] of [
        ["debug", ["debug", "info", "warn", "error"]],
        ["info", ["info", "warn", "error"]],
        ["warn", ["warn", "error"]],
        ["error", ["error"]],
      ] as const
    ) {
      const { log, lines } = capture(level);
      log.debug("d");
      log.info("i");
      log.warn("w");
      log.error("e");
      assert.deepEqual(lines.map((l) => JSON.parse(l).level), expected, level);
    }
  });

  it("redacts password and content fields except at debug", () => {
    const fields = { user: "alice@a.test", password: "hunter2", Content: "hi bob", body: "x" };
    for (const level of ["info", "warn", "error"] as const) {
      const { log, lines } = capture("debug");
      log[level]("oops", fields);
      assert.doesNotMatch(lines[0], /hunter2|hi bob/);
      const rec = JSON.parse(lines[0]);
      assert.equal(rec.user, "alice@a.test");
      assert.equal(rec.password, "[redacted]");
      assert.equal(rec.Content, "[redacted]");
    }
    const { log, lines } = capture("debug");
    log.debug("trace", fields);
    assert.equal(JSON.parse(lines[0]).password, "hunter2");
  });

  it("fields cannot overwrite time, level or msg", () => {
    const { log, lines } = capture("info");
    log.warn("real", { msg: "fake", level: "debug", time: "never", other: null });
    const rec = JSON.parse(lines[0]);
    assert.equal(rec.msg, "real");
    assert.equal(rec.level, "warn");
    assert.notEqual(rec.time, "never");
    assert.equal(rec.other, null);
  });
});
