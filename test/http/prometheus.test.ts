/** The Prometheus text renderer against exact expected output. */
import { describe, it } from "node:test";
import assert from "node:assert/strict";
import {
  escapeHelp,
  escapeLabelValue,
  formatValue,
  type MetricFamily,
  renderPrometheus,
} from "../../src/http/prometheus.ts";

describe("renderPrometheus", () => {
  it("renders counters and gauges with HELP, TYPE and labels in order", () => {
    const families: MetricFamily[] = [
      {
        name: "app_requests_total",
        help: "Requests handled.",
        type: "counter",
        samples: [
          { labels: { route: "a", code: "200" }, value: 3 },
          { labels: { route: "b", code: "500" }, value: 0 },
        ],
      },
      { name: "app_temperature", help: "Degrees.", type: "gauge", samples: [{ value: -1.5 }] },
      { name: "app_empty", help: "No samples yet.", type: "gauge", samples: [] },
    ];
    assert.equal(
      renderPrometheus(families),
      [
        "# HELP app_requests_total Requests handled.",
        "# TYPE app_requests_total counter",
        'app_requests_total{route="a",code="200"} 3',
        'app_requests_total{route="b",code="500"} 0',
        "# HELP app_temperature Degrees.",
        "# TYPE app_temperature gauge",
        "app_temperature -1.5",
        "# HELP app_empty No samples yet.",
        "# TYPE app_empty gauge",
        "",
      ].join("\n"),
    );
  });

  it("renders a histogram with cumulative buckets, +Inf, _sum and _count", () => {
    const text = renderPrometheus([
      {
        name: "req_seconds",
        help: "Request time.",
        type: "histogram",
        buckets: [0.001, 0.25, 1],
        series: [
          { labels: { type: "Login" }, counts: [1, 2, 0, 1], sum: 3.5, count: 4 },
          {
            labels: { type: "Ping" },
            counts: new Float64Array([5, 0, 0, 0]),
            sum: 0.0025,
            count: 5,
          },
        ],
      },
      {
        name: "bare_seconds",
        help: "No labels.",
        type: "histogram",
        buckets: [1],
        series: [{ counts: [0, 0], sum: 0, count: 0 }],
      },
    ]);
    assert.equal(
      text,
      [
        "# HELP req_seconds Request time.",
        "# TYPE req_seconds histogram",
        'req_seconds_bucket{type="Login",le="0.001"} 1',
        'req_seconds_bucket{type="Login",le="0.25"} 3',
        'req_seconds_bucket{type="Login",le="1"} 3',
        'req_seconds_bucket{type="Login",le="+Inf"} 4',
        'req_seconds_sum{type="Login"} 3.5',
        'req_seconds_count{type="Login"} 4',
        'req_seconds_bucket{type="Ping",le="0.001"} 5',
        'req_seconds_bucket{type="Ping",le="0.25"} 5',
        'req_seconds_bucket{type="Ping",le="1"} 5',
        'req_seconds_bucket{type="Ping",le="+Inf"} 5',
        'req_seconds_sum{type="Ping"} 0.0025',
        'req_seconds_count{type="Ping"} 5',
        "# HELP bare_seconds No labels.",
        "# TYPE bare_seconds histogram",
        'bare_seconds_bucket{le="1"} 0',
        'bare_seconds_bucket{le="+Inf"} 0',
        "bare_seconds_sum 0",
        "bare_seconds_count 0",
        "",
      ].join("\n"),
    );
  });

  it("escapes label values and HELP text", () => {
    const text = renderPrometheus([
      {
        name: "peer_up",
        help: 'Back\\slash and\nnewline; "quotes" stay.',
        type: "gauge",
        samples: [{ labels: { peer: 'a"b\\c\nd' }, value: 1 }],
      },
    ]);
    assert.equal(
      text,
      [
        '# HELP peer_up Back\\\\slash and\\nnewline; "quotes" stay.',
        "# TYPE peer_up gauge",
        'peer_up{peer="a\\"b\\\\c\\nd"} 1',
        "",
      ].join("\n"),
    );
    assert.equal(escapeLabelValue('x"\\\n'), 'x\\"\\\\\\n');
    assert.equal(escapeHelp("a\\b\nc"), "a\\\\b\\nc");
    // Anything else, including non-ASCII, passes through.
    assert.equal(escapeLabelValue("zürich.example"), "zürich.example");
  });

  it("formats special and large values the way Prometheus parses them", () => {
    assert.equal(formatValue(NaN), "NaN");
    assert.equal(formatValue(Infinity), "+Inf");
    assert.equal(formatValue(-Infinity), "-Inf");
    assert.equal(formatValue(0), "0");
    assert.equal(formatValue(123456789012), "123456789012");
    assert.equal(formatValue(1e21), "1e+21");
    assert.equal(formatValue(0.1), "0.1");
  });

  it("renders nothing for no families", () => {
    assert.equal(renderPrometheus([]), "");
  });

  it("rejects invalid names, duplicates and mismatched histograms", () => {
    const gauge = (name: string, labels?: Record<string, string>): MetricFamily => ({
      name,
      help: "h",
      type: "gauge",
      samples: [{ labels, value: 1 }],
    });
    assert.throws(() => renderPrometheus([gauge("1bad")]), TypeError);
    assert.throws(() => renderPrometheus([gauge("has-dash")]), TypeError);
    assert.throws(() => renderPrometheus([gauge("ok", { "bad-label": "x" })]), TypeError);
    assert.throws(() => renderPrometheus([gauge("ok", { __reserved: "x" })]), TypeError);
    assert.throws(() => renderPrometheus([gauge("ok", { le: "x" })]), TypeError);
    assert.throws(() => renderPrometheus([gauge("twice"), gauge("twice")]), /duplicate/);
    assert.throws(
      () =>
        renderPrometheus([{
          name: "h",
          help: "h",
          type: "histogram",
          buckets: [1, 2],
          series: [{ counts: [1, 2], sum: 0, count: 3 }],
        }]),
      /bucket counts/,
    );
    assert.throws(
      () =>
        renderPrometheus([{
          name: "h",
          help: "h",
          type: "histogram",
          buckets: [2, 1],
          series: [],
        }]),
      /strictly increasing/,
    );
    assert.doesNotThrow(() => renderPrometheus([gauge("ns:sub_total", { _x: "" })]));
  });
});
