// The benchmark harness's own logic: which cells run, how timings become figures, ratios, and the
// JSON schema. (Speed itself is never asserted in tests.)

import { test } from "node:test";
import assert from "node:assert/strict";
import {
  addIdleBaselines,
  addRatios,
  type Cell,
  cellsFor,
  figures,
  framesPerBatch,
  type IdleRow,
  median,
  type Report,
  type ResultRow,
  schemaProblems,
} from "../bench/_cells.ts";
import { evaluateTargets, markdownReport, svgChart, terminalTables } from "../bench/_report.ts";

const row = (over: Partial<ResultRow>): ResultRow => ({
  runtime: "deno",
  api: "native",
  strategy: "raw",
  mode: "stream",
  payload: 64,
  receive: null,
  sleep_ms: null,
  frames_per_s: 1000,
  mb_per_s: 0.064,
  rtt_p50_us: null,
  rtt_p99_us: null,
  peak_rss_mb: 50,
  ratio_to_raw: null,
  sticky_rate: null,
  spread: 0.1,
  samples: 10,
  ...over,
});

const idleRow = (over: Partial<IdleRow>): IdleRow => ({
  runtime: "deno",
  api: "native",
  echo: "framed",
  connections: 2000,
  held: 2000,
  failed: 0,
  kib_per_conn: 12.5,
  kib_marginal: 11,
  accept_per_s: 9000,
  gc_forced: true,
  settle_ms: 500,
  kib_over_bare: null,
  ...over,
});

const report = (results: ResultRow[]): Report => ({
  schema: "framed-bench/2",
  date: "2026-11-27T00:00:00.000Z",
  suite: "quick",
  runtimes: { deno: "2.9.6" },
  machine: { cpu: "test cpu", cores: 2, memory_gb: 24, os: "Linux" },
  results,
  rss_checks: [{ runtime: "deno", api: "native", bytes: 2 ** 30, peak_rss_mb: 60 }],
  idle_checks: [idleRow({ echo: "bare", kib_per_conn: 8 }), idleRow({})],
  codec_only: [{ name: "framed decoder (deno)", payload: 64, frames_per_s: 2e7, mb_per_s: 1280 }],
  targets: [],
});

test("median() takes the middle value, or the mean of the middle two", () => {
  assert.equal(median([5, 1, 3]), 3);
  assert.equal(median([4, 1, 3, 2]), 2.5);
  assert.ok(Number.isNaN(median([])));
});

test("figures() turns a stream's mean iteration time into frames/s and MB/s", () => {
  const cell: Cell = {
    strategy: "length-prefix",
    mode: "stream",
    payload: 1000,
    receive: "callback",
  };
  const f = figures(
    cell,
    { p25: 0.9e6, p50: 0.8e6, p75: 1.1e6, p99: 2e6, avg: 1e6, samples: 7 },
    500,
  );
  assert.equal(f.frames_per_s, 500_000); // 500 frames per millisecond
  assert.equal(f.mb_per_s, 500);
  assert.equal(f.rtt_p50_us, null);
  assert.ok(Math.abs(f.spread - 0.25) < 1e-12);
  assert.equal(f.samples, 7);
});

test("figures() reports ping-pong round trips in microseconds", () => {
  const cell: Cell = { strategy: "raw", mode: "ping-pong", payload: 64 };
  const f = figures(
    cell,
    { p25: 40e3, p50: 50e3, p75: 60e3, p99: 200e3, avg: 55e3, samples: 100 },
    1,
  );
  assert.equal(f.rtt_p50_us, 50);
  assert.equal(f.rtt_p99_us, 200);
  assert.equal(f.frames_per_s, 20_000);
});

test("addRatios() compares streams by throughput and ping-pong by latency, per runtime, API and payload", () => {
  const rows = [
    row({ strategy: "raw", frames_per_s: 1000 }),
    row({ strategy: "length-prefix", receive: "callback", frames_per_s: 950 }),
    row({ strategy: "raw", mode: "ping-pong", rtt_p50_us: 40 }),
    row({ strategy: "length-prefix", mode: "ping-pong", rtt_p50_us: 44 }),
    row({ strategy: "length-prefix", api: "node", frames_per_s: 10 }),
  ];
  addRatios(rows);
  assert.equal(rows[0]!.ratio_to_raw, 1);
  assert.equal(rows[1]!.ratio_to_raw, 0.95);
  assert.ok(Math.abs(rows[3]!.ratio_to_raw! - 1.1) < 1e-12);
  assert.equal(rows[4]!.ratio_to_raw, null, "no raw row for node:net, so no ratio");
});

test("cellsFor() runs raw first for every payload and honours the strategy filter", () => {
  const cells = cellsFor({ full: false, strategies: ["length-prefix"], payloads: [64] });
  assert.deepEqual(cells.map((c) => `${c.strategy}/${c.mode}/${c.receive ?? ""}`), [
    "raw/stream/",
    "raw/ping-pong/",
    "length-prefix/stream/callback",
    "length-prefix/stream/for-await",
    "length-prefix/ping-pong/",
  ]);
  const ack = cellsFor({ full: false, strategies: ["ack-handshake"], payloads: [64] });
  assert.deepEqual(
    ack.map((c) => c.strategy),
    ["raw", "raw", "ack-handshake"],
    "ack rows get their baseline",
  );
  const sleeps = cellsFor({ full: true, strategies: ["sleep"], payloads: [64, 4096] });
  assert.deepEqual(sleeps.map((c) => c.sleepMs), [0, 1, 5, 0, 1, 5]);
});

test("framesPerBatch() fills about 1 MiB with whole frames", () => {
  assert.equal(framesPerBatch(65536), 15);
  assert.equal(framesPerBatch(64), 15420);
  assert.equal(framesPerBatch(4 * 1024 * 1024), 1);
});

test("a complete report has no schema problems, and each broken field is named", () => {
  const good = report([row({})]);
  assert.deepEqual(schemaProblems(good), []);
  const bad = report([row({ frames_per_s: NaN }), row({ mode: "sideways" as ResultRow["mode"] })]);
  (bad.runtimes as Record<string, unknown>).bun = 1;
  const problems = schemaProblems(bad);
  assert.ok(problems.some((p) => p.includes("results[0].frames_per_s")));
  assert.ok(problems.some((p) => p.includes("results[1].mode")));
  assert.ok(problems.some((p) => p.includes("runtimes.bun")));
  assert.deepEqual(schemaProblems(null), ["the report is not an object"]);
});

test("schemaProblems() checks every idle-connection row", () => {
  const bad = report([row({})]);
  bad.idle_checks = [
    idleRow({ kib_per_conn: Infinity }),
    idleRow({ echo: "raw" as IdleRow["echo"] }),
    idleRow({ held: 2001 }),
    idleRow({ gc_forced: "yes" as unknown as boolean }),
  ];
  const problems = schemaProblems(bad);
  assert.ok(problems.some((p) => p.includes("idle_checks[0].kib_per_conn")));
  assert.ok(problems.some((p) => p.includes("idle_checks[1].echo")));
  assert.ok(problems.some((p) => p.includes("idle_checks[2] holds more connections")));
  assert.ok(problems.some((p) => p.includes("idle_checks[3].gc_forced")));
  const missing = { ...report([row({})]), idle_checks: undefined };
  assert.ok(schemaProblems(missing).includes("idle_checks must be an array"));
  assert.ok(schemaProblems({ ...report([]), schema: "framed-bench/1" }).length > 0, "old schema");
});

test("addIdleBaselines() subtracts the bare echo of the same runtime and API from framed rows", () => {
  const rows = [
    idleRow({ echo: "bare", kib_per_conn: 8 }),
    idleRow({ kib_per_conn: 12.5 }),
    idleRow({ api: "node", kib_per_conn: 20 }),
  ];
  addIdleBaselines(rows);
  assert.equal(rows[0]!.kib_over_bare, null, "the bare row is the baseline");
  assert.equal(rows[1]!.kib_over_bare, 4.5);
  assert.equal(rows[2]!.kib_over_bare, null, "no bare row for node:net, so no difference");
});

test("evaluateTargets() states plainly which targets are met", () => {
  const r = report([
    row({ strategy: "raw", payload: 65536, frames_per_s: 100 }),
    row({ strategy: "length-prefix", receive: "callback", payload: 65536, frames_per_s: 90 }),
    row({ strategy: "length-prefix", receive: "callback", payload: 64, frames_per_s: 8e6 }),
  ]);
  addRatios(r.results);
  const targets = evaluateTargets(r);
  const byName = (part: string) => targets.find((t) => t.name.includes(part))!;
  assert.equal(byName("64 KiB length-prefix stream").met, false);
  assert.equal(byName("64 B frames pipelined").met, true);
  assert.equal(byName("peak RSS").met, true);
  assert.equal(targets.filter((t) => t.name.includes("idle")).length, 1, "bare rows set no goal");
  assert.equal(byName("KiB per idle connection").met, null, "2,000 connections are not judged");
  const tenThousand = { connections: 10_000, held: 10_000 };
  r.idle_checks = [
    idleRow({ ...tenThousand, kib_per_conn: 12.5 }),
    idleRow({ ...tenThousand, api: "node", kib_per_conn: 16.5 }),
    idleRow({ ...tenThousand, runtime: "bun", held: 9_999 }),
  ];
  const idle = evaluateTargets(r).filter((t) => t.name.includes("idle"));
  assert.deepEqual(
    idle.map((t) => t.met),
    [true, false, false],
    "met at 12.5 KiB; not over 16 KiB, nor with a connection lost",
  );
});

test("the Markdown report, terminal tables and SVG chart carry the environment and the figures", () => {
  const r = report([row({}), row({ strategy: "raw", mode: "ping-pong", rtt_p50_us: 42.5 })]);
  addIdleBaselines(r.idle_checks);
  r.targets = evaluateTargets(r);
  const md = markdownReport(r);
  assert.match(md, /deno 2\.9\.6/);
  assert.match(md, /test cpu, 2 cores/);
  assert.match(md, /## Idle connections/);
  assert.match(md, /\| deno · native \| framed \| 2,000 \/ 2,000 \| 12\.5 \| 11\.0 \| \+4\.5 \|/);
  assert.match(terminalTables(r), /42\.5/);
  const svg = svgChart(r);
  assert.match(svg, /^<svg xmlns="http:\/\/www\.w3\.org\/2000\/svg"/);
  assert.match(svg, /42\.5 µs/);
  assert.doesNotMatch(
    svg,
    /<script|https?:\/\/(?!www\.w3\.org)/,
    "readable offline, with no script",
  );
});
