// The benchmark harness's own logic: which cells run, how timings become figures, ratios, and the
// JSON schema; and its plumbing: the raw loops and a tiny cell over TLS and unix sockets, end to
// end. (Speed itself is never asserted in tests.)

import { after, test } from "node:test";
import assert from "node:assert/strict";
import { join } from "node:path";
import { detectRuntime } from "../mod.ts";
import {
  addIdleBaselines,
  addRatios,
  type Cell,
  cellOf,
  cellsFor,
  combineRounds,
  describeCell,
  figures,
  framesPerBatch,
  type IdleRow,
  median,
  type Report,
  type ResultRow,
  rowKey,
  SCHEMA,
  schemaProblems,
} from "../bench/_cells.ts";
import { chooseExtraRounds, isFiltered, outputBase, runTitle } from "../bench/_plan.ts";
import { onCore, runCells } from "../bench/_processes.ts";
import { Progress } from "../bench/_progress.ts";
import { type RawConn, rawConnect, rawListen, readTlsPems } from "../bench/_raw.ts";
import {
  cellsNearThresholds,
  evaluateTargets,
  judge,
  markdownReport,
  svgChart,
  terminalTables,
  verdictRange,
} from "../bench/_report.ts";
import { SOCKET_APIS } from "./_helpers.ts";
import { tempDirs } from "./_process.ts";
import { tlsFixtures } from "./_tls_fixtures.ts";

const dirs = tempDirs();
after(() => dirs.removeAll());

const row = (over: Partial<ResultRow>): ResultRow => ({
  runtime: "deno",
  api: "native",
  transport: "tcp",
  strategy: "raw",
  mode: "stream",
  payload: 64,
  receive: null,
  send: over.strategy === "length-prefix" ? "write" : null,
  sleep_ms: null,
  frames_per_s: 1000,
  min: over.frames_per_s ?? 1000,
  max: over.frames_per_s ?? 1000,
  mb_per_s: 0.064,
  rtt_p50_us: null,
  rtt_p99_us: null,
  peak_rss_mb: 50,
  ratio_to_raw: null,
  ratio_min: null,
  ratio_max: null,
  sticky_rate: null,
  spread: 0.1,
  rounds: 1,
  round_frames_per_s: [over.frames_per_s ?? 1000],
  round_ratios: null,
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
  schema: SCHEMA,
  date: "2026-11-27T00:00:00.000Z",
  suite: "quick",
  title: "quick suite",
  runtimes: { deno: "2.9.6" },
  machine: { cpu: "test cpu", cores: 2, memory_gb: 24, os: "Linux", pinned: true },
  results,
  rss_checks: [
    { runtime: "deno", api: "native", receiver: "framed", bytes: 2 ** 30, peak_rss_mb: 60 },
    { runtime: "deno", api: "native", receiver: "bare", bytes: 2 ** 30, peak_rss_mb: 70 },
  ],
  idle_checks: [idleRow({ echo: "bare", kib_per_conn: 8 }), idleRow({})],
  codec_only: [{ name: "framed decoder (deno)", payload: 64, frames_per_s: 2e7, mb_per_s: 1280 }],
  tls_sessions: [{
    runtime: "bun",
    api: "native",
    protocol: "TLSv1.3",
    cipher: "TLS_AES_128_GCM_SHA256",
  }],
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

test("addRatios() compares a TLS or unix row with the raw row of the same transport only", () => {
  const rows = [
    row({ strategy: "raw", frames_per_s: 1000 }),
    row({ transport: "tls", strategy: "raw", frames_per_s: 400 }),
    row({ transport: "tls", strategy: "length-prefix", receive: "callback", frames_per_s: 380 }),
    row({ transport: "unix", strategy: "length-prefix", receive: "callback", frames_per_s: 900 }),
  ];
  addRatios(rows);
  assert.equal(rows[2]!.ratio_to_raw, 0.95, "380 / 400, not 380 / 1000");
  assert.equal(rows[3]!.ratio_to_raw, null, "no raw unix row, so no ratio (not the TCP one)");
});

test("cellsFor() runs raw first for every payload and honours the strategy filter", () => {
  const cells = cellsFor({ full: false, strategies: ["length-prefix"], payloads: [64] });
  assert.deepEqual(cells.map((c) => `${c.strategy}/${c.mode}/${c.receive ?? ""}`), [
    "raw/stream/",
    "raw/ping-pong/",
    "length-prefix/stream/callback",
    "length-prefix/stream/for-await",
    "length-prefix/stream/stream",
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

test("cellsFor() gives TLS and unix raw and onFrame streams at the largest payload in the quick suite", () => {
  const cells = cellsFor({
    full: false,
    strategies: ["raw", "length-prefix", "ack-handshake", "sleep"],
    payloads: [64, 65536],
    transports: ["tls", "unix"],
  });
  assert.deepEqual(cells.map((c) => `${c.transport}/${c.strategy}/${c.mode}/${c.payload}`), [
    "tls/raw/stream/65536",
    "tls/length-prefix/stream/65536",
    "unix/raw/stream/65536",
    "unix/length-prefix/stream/65536",
  ]);
  assert.ok(cells.every((c) => c.strategy === "raw" || c.receive === "callback"));
  const tcp = cellsFor({ full: false, strategies: ["raw"], payloads: [64], transports: ["tcp"] });
  assert.ok(tcp.every((c) => c.transport === undefined), "TCP cells carry no transport");
});

test("cellsFor() gives TLS and unix streams at the smallest and largest payload in the full suite, and TLS ping-pong at the smallest", () => {
  const cells = cellsFor({
    full: true,
    strategies: ["length-prefix"],
    payloads: [64, 4096, 65536],
    transports: ["tcp", "tls", "unix"],
  });
  const other = cells.filter((c) => c.transport !== undefined);
  assert.deepEqual(other.map((c) => `${c.transport}/${c.strategy}/${c.mode}/${c.payload}`), [
    "tls/raw/stream/64",
    "tls/length-prefix/stream/64",
    "tls/raw/ping-pong/64",
    "tls/length-prefix/ping-pong/64",
    "unix/raw/stream/64",
    "unix/length-prefix/stream/64",
    "tls/raw/stream/65536",
    "tls/length-prefix/stream/65536",
    "unix/raw/stream/65536",
    "unix/length-prefix/stream/65536",
  ]);
  assert.equal(
    cells.length - other.length,
    17,
    "TCP keeps its five cells per payload, the stream API's at the smallest, writeWith's at 64 KiB",
  );
  const none = cellsFor({
    full: true,
    strategies: ["sleep"],
    payloads: [64],
    transports: ["unix"],
  });
  assert.deepEqual(none, [], "sleep is a TCP strategy only");
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
  const wrongTransport = report([row({ transport: "quic" as ResultRow["transport"] })]);
  wrongTransport.tls_sessions[0]!.cipher = 7 as unknown as string;
  const more = schemaProblems(wrongTransport);
  assert.ok(more.some((p) => p.includes("results[0].transport is quic")));
  assert.ok(more.some((p) => p.includes("tls_sessions[0].cipher")));
  const noTransport = report([row({})]);
  delete (noTransport.results[0] as Partial<ResultRow>).transport;
  assert.ok(schemaProblems(noTransport).some((p) => p.includes("results[0].transport")));
  assert.ok(
    schemaProblems({ ...report([]), tls_sessions: undefined }).includes(
      "tls_sessions must be an array",
    ),
  );
  const missing = { ...report([row({})]), idle_checks: undefined };
  assert.ok(schemaProblems(missing).includes("idle_checks must be an array"));
  assert.ok(schemaProblems({ ...report([]), schema: "framed-bench/2" }).length > 0, "old schema");
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
  assert.equal(byName("64 KiB length-prefix stream vs raw").met, false);
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

test("evaluateTargets() judges framed over TLS against raw TLS at 64 KiB, apart from TCP", () => {
  const big = { payload: 65536, mode: "stream" as const };
  const r = report([
    row({ ...big, strategy: "raw", frames_per_s: 100 }),
    row({ ...big, strategy: "length-prefix", receive: "callback", frames_per_s: 99 }),
    row({ ...big, transport: "tls", strategy: "raw", frames_per_s: 50 }),
    row({
      ...big,
      transport: "tls",
      strategy: "length-prefix",
      receive: "callback",
      frames_per_s: 44,
    }),
    row({ ...big, api: "node", transport: "tls", strategy: "raw", frames_per_s: 50 }),
    row({
      ...big,
      api: "node",
      transport: "tls",
      strategy: "length-prefix",
      receive: "callback",
      frames_per_s: 46,
    }),
  ]);
  addRatios(r.results);
  const targets = evaluateTargets(r);
  const tcp = targets.find((t) => t.name === "deno native: 64 KiB length-prefix stream vs raw")!;
  assert.equal(tcp.value, 0.99, "the TCP target reads the TCP rows");
  const tls = targets.filter((t) => t.name.includes("over TLS"));
  assert.deepEqual(tls.map((t) => [t.name, t.value, t.goal, t.met]), [
    ["deno native: 64 KiB length-prefix stream over TLS vs raw TLS", 0.88, "≥ 0.90 × raw", false],
    ["deno node: 64 KiB length-prefix stream over TLS vs raw TLS", 0.92, "≥ 0.90 × raw", true],
  ]);
});

test("the reports name each row's transport and list the TLS sessions", () => {
  const r = report([
    row({ strategy: "raw", payload: 65536 }),
    row({ transport: "unix", strategy: "raw", payload: 65536, mb_per_s: 4321 }),
    row({ transport: "tls", strategy: "raw", payload: 65536, mb_per_s: 1234 }),
  ]);
  const md = markdownReport(r);
  assert.match(md, /\| runtime · API \| transport \| payload \| MB\/s \|/);
  const order = ["tcp", "tls", "unix"].map((t) => md.indexOf(`| deno · native | ${t} |`));
  assert.ok(order.every((at, i) => at > 0 && (i === 0 || at > order[i - 1]!)), "tcp, tls, unix");
  assert.match(md, /## TLS sessions[^]*\| bun · native \| TLSv1\.3 \| TLS_AES_128_GCM_SHA256 \|/);
  assert.match(terminalTables(r), /TLS_AES_128_GCM_SHA256/);
  assert.match(svgChart(r), /deno native tls · raw/);
  assert.match(svgChart(r), /deno native · raw/, "TCP rows keep their short label");
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

test("cellsFor() adds the writeWith cell once, at 64 KiB over TCP, right after onFrame's", () => {
  const cells = cellsFor({
    full: false,
    strategies: ["length-prefix"],
    payloads: [64, 65536],
    transports: ["tcp", "tls"],
  });
  const withWriteWith = cells.filter((c) => c.send === "write-with");
  assert.deepEqual(withWriteWith, [{
    strategy: "length-prefix",
    mode: "stream",
    payload: 65536,
    receive: "callback",
    send: "write-with",
  }]);
  const at = cells.indexOf(withWriteWith[0]!);
  assert.equal(cells[at - 1]!.receive, "callback", "beside the onFrame cell it is compared with");
  assert.equal(cells[at - 1]!.send, undefined);
  assert.match(describeCell(withWriteWith[0]!), /sent with writeWith/);
  assert.deepEqual(
    cellsFor({ full: false, strategies: ["raw", "ack-handshake"], payloads: [65536] })
      .filter((c) => c.send !== undefined),
    [],
    "only length-prefix runs it",
  );
});

test("cellOf() gives back the cell a row was measured with, and rowKey() tells writeWith apart", () => {
  const cells: Cell[] = [
    { strategy: "raw", mode: "ping-pong", payload: 64 },
    { strategy: "length-prefix", mode: "stream", payload: 65536, receive: "callback" },
    {
      strategy: "length-prefix",
      mode: "stream",
      payload: 65536,
      receive: "callback",
      send: "write-with",
    },
    { strategy: "raw", mode: "stream", payload: 65536, transport: "tls" },
    { strategy: "sleep", mode: "stream", payload: 64, sleepMs: 1 },
  ];
  for (const cell of cells) {
    const r = row({
      strategy: cell.strategy,
      mode: cell.mode,
      payload: cell.payload,
      receive: cell.receive ?? null,
      send: cell.strategy === "length-prefix" ? cell.send ?? "write" : null,
      sleep_ms: cell.sleepMs ?? null,
      transport: cell.transport ?? "tcp",
    });
    assert.deepEqual(cellOf(r), cell);
  }
  const write = row({ strategy: "length-prefix", receive: "callback" });
  assert.notEqual(rowKey(write), rowKey({ ...write, send: "write-with" }));
  assert.equal(rowKey(write), rowKey({ ...write, frames_per_s: 5 }), "figures are not the key");
});

test("combineRounds() takes the median of each figure and keeps the rounds' lowest and highest", () => {
  const rounds = [
    row({ frames_per_s: 900, mb_per_s: 0.9, samples: 3, peak_rss_mb: 40 }),
    row({ frames_per_s: 1200, mb_per_s: 1.2, samples: 4, peak_rss_mb: 55 }),
    row({ frames_per_s: 1000, mb_per_s: 1.0, samples: 5, peak_rss_mb: 50 }),
  ];
  const r = combineRounds(rounds);
  assert.equal(r.frames_per_s, 1000);
  assert.equal(r.mb_per_s, 1.0);
  assert.equal(r.min, 900);
  assert.equal(r.max, 1200);
  assert.ok(Math.abs(r.spread - 0.3) < 1e-12, "(1200 - 900) / 1000");
  assert.equal(r.rounds, 3);
  assert.deepEqual(r.round_frames_per_s, [900, 1200, 1000], "in the order they ran");
  assert.equal(r.samples, 12);
  assert.equal(r.peak_rss_mb, 55);
  const one = combineRounds([row({ frames_per_s: 700, spread: 0.04 })]);
  assert.equal(one.spread, 0.04, "one round: mitata's own spread");
  assert.equal(one.min, 700);
});

test("addRatios() bounds each ratio with the per-round ratios, round i against raw's round i", () => {
  const raw = [row({ frames_per_s: 100 }), row({ frames_per_s: 200 })];
  const framed = [
    row({ strategy: "length-prefix", receive: "callback", frames_per_s: 95 }),
    row({ strategy: "length-prefix", receive: "callback", frames_per_s: 180 }),
  ];
  const rawPing = [
    row({ mode: "ping-pong", rtt_p50_us: 40 }),
    row({ mode: "ping-pong", rtt_p50_us: 50 }),
  ];
  const framedPing = [
    row({ strategy: "length-prefix", mode: "ping-pong", rtt_p50_us: 48 }),
    row({ strategy: "length-prefix", mode: "ping-pong", rtt_p50_us: 50 }),
  ];
  const rounds = new Map<string, ResultRow[]>();
  for (const list of [raw, framed, rawPing, framedPing]) rounds.set(rowKey(list[0]!), list);
  const rows = [...rounds.values()].map(combineRounds);
  addRatios(rows, rounds);
  const [, stream, , ping] = rows;
  assert.ok(Math.abs(stream!.ratio_to_raw! - 137.5 / 150) < 1e-12, "the ratio of the medians");
  assert.equal(stream!.ratio_min, 0.9, "180 / 200 in round 2");
  assert.equal(stream!.ratio_max, 0.95, "95 / 100 in round 1");
  assert.equal(ping!.ratio_min, 1, "50 / 50 in round 2");
  assert.equal(ping!.ratio_max, 1.2, "48 / 40 in round 1: lower is better, so this is the worst");
  assert.deepEqual(ping!.round_ratios, [1.2, 1]);
  assert.equal(rows[0]!.ratio_min, 1, "raw against itself");
  const alone = [row({}), row({ strategy: "length-prefix", frames_per_s: 500 })];
  addRatios(alone);
  assert.equal(alone[1]!.ratio_min, 0.5, "without its rounds a row is its own single round");
  assert.equal(alone[1]!.ratio_max, 0.5);
});

test("judge() calls a target within noise when the rounds' range crosses the threshold", () => {
  assert.deepEqual(judge(0.97, { min: 0.96, max: 0.99 }, "≥", 0.95), {
    met: true,
    verdict: "met",
  });
  assert.deepEqual(judge(0.9, { min: 0.85, max: 0.94 }, "≥", 0.95), {
    met: false,
    verdict: "missed",
  });
  assert.deepEqual(judge(0.97, { min: 0.9, max: 0.99 }, "≥", 0.95), {
    met: true,
    verdict: "within noise",
  });
  assert.deepEqual(judge(0.93, { min: 0.9, max: 0.96 }, "≥", 0.95), {
    met: false,
    verdict: "within noise",
  });
  assert.deepEqual(judge(1.05, { min: 1.02, max: 1.12 }, "≤", 1.1), {
    met: true,
    verdict: "within noise",
  });
  assert.deepEqual(judge(1.2, { min: 1.15, max: 1.3 }, "≤", 1.1), {
    met: false,
    verdict: "missed",
  });
  assert.deepEqual(judge(0.95, { min: null, max: null }, "≥", 0.95), {
    met: true,
    verdict: "met",
  }, "exactly the threshold meets it; no range, no noise");
});

test("verdictRange() reads every round, or without the highest and lowest from four rounds on", () => {
  assert.deepEqual(verdictRange([0.9, 0.99], 0.95), [0.9, 0.99]);
  assert.deepEqual(verdictRange([0.9, 0.99, 0.97], 0.97), [0.9, 0.99]);
  assert.deepEqual(verdictRange([0.97, 0.8, 0.96, 1.2, 0.98], 0.97), [0.96, 0.98]);
  assert.deepEqual(verdictRange([0.96, 0.98], 0.9), [0.9, 0.98], "the ratio itself is inside");
  assert.deepEqual(verdictRange([], 1.5), [1.5, 1.5]);
  // Two rounds called it within noise; three extra rounds settle it.
  const twoRounds = verdictRange([0.8, 0.97], 0.885);
  assert.equal(
    judge(0.885, { min: twoRounds[0], max: twoRounds[1] }, "≥", 0.95).verdict,
    "within noise",
  );
  const fiveRounds = verdictRange([0.8, 0.97, 0.96, 0.98, 0.99], 0.97);
  assert.equal(judge(0.97, { min: fiveRounds[0], max: fiveRounds[1] }, "≥", 0.95).verdict, "met");
  const r = report([
    row({ payload: 65536 }),
    row({
      payload: 65536,
      strategy: "length-prefix",
      receive: "callback",
      ratio_to_raw: 0.97,
      ratio_min: 0.8,
      ratio_max: 0.99,
      round_ratios: [0.8, 0.97, 0.96, 0.98, 0.99],
    }),
  ]);
  r.targets = evaluateTargets(r);
  assert.deepEqual(
    [r.targets[0]!.min, r.targets[0]!.max, r.targets[0]!.rounds, r.targets[0]!.verdict],
    [0.96, 0.98, 5, "met"],
  );
  assert.match(
    markdownReport(r),
    /\| 0\.97 \(0\.96–0\.98, middle 3 of 5 rounds\) \| ≥ 0\.95 × raw \| met \|/,
  );
});

test("evaluateTargets() gives each target its rounds' range and a verdict, within noise included", () => {
  const big = { payload: 65536, mode: "stream" as const };
  const r = report([
    row({ ...big, strategy: "raw", frames_per_s: 100 }),
    row({
      ...big,
      strategy: "length-prefix",
      receive: "callback",
      frames_per_s: 96,
      ratio_to_raw: 0.96,
      ratio_min: 0.9,
      ratio_max: 0.99,
      round_ratios: [0.9, 0.99],
    }),
    row({
      ...big,
      strategy: "length-prefix",
      receive: "callback",
      send: "write-with",
      frames_per_s: 99,
      ratio_to_raw: 0.99,
      ratio_min: 0.97,
      ratio_max: 1.01,
      round_ratios: [0.97, 1.01],
    }),
    row({
      strategy: "length-prefix",
      receive: "for-await",
      frames_per_s: 2.5e6,
      min: 2.4e6,
      max: 2.7e6,
      round_frames_per_s: [2.4e6, 2.7e6],
    }),
    row({ runtime: "node", api: "node", strategy: "length-prefix", receive: "for-await" }),
  ]);
  const targets = evaluateTargets(r);
  const byName = (name: string) => targets.find((t) => t.name === name);
  assert.deepEqual(byName("deno native: 64 KiB length-prefix stream vs raw"), {
    name: "deno native: 64 KiB length-prefix stream vs raw",
    value: 0.96,
    min: 0.9,
    max: 0.99,
    rounds: 2,
    goal: "≥ 0.95 × raw",
    met: true,
    verdict: "within noise",
  });
  const writeWith = byName("deno native: 64 KiB length-prefix stream sent with writeWith vs raw")!;
  assert.equal(writeWith.verdict, "met");
  assert.equal(writeWith.value, 0.99, "the writeWith row, not the write() row");
  const forAwait = byName("deno native: 64 B frames pipelined, for await")!;
  assert.deepEqual([forAwait.goal, forAwait.met, forAwait.verdict], [
    "≥ 3 M frames/s",
    false,
    "missed",
  ]);
  assert.equal(
    targets.filter((t) => t.name.includes("for await")).length,
    1,
    "judged on Deno and Bun native only",
  );
  const rss = targets.find((t) => t.name.includes("peak RSS"))!;
  assert.equal(rss.name, "deno native: peak RSS receiving 1024 MiB (bare receiver: 70.0 MiB)");
  assert.deepEqual([rss.value, rss.met, rss.verdict], [60, true, "met"], "judged on framed");
  assert.equal(targets.filter((t) => t.name.includes("peak RSS")).length, 1);
  r.targets = targets;
  const md = markdownReport(r);
  assert.match(
    md,
    /\| deno native: 64 KiB length-prefix stream vs raw \| 0\.96 \(0\.90–0\.99\) \| ≥ 0\.95 × raw \| within noise \|/,
  );
  assert.match(
    md,
    /for await \| 2\.50 M \(2\.40 M–2\.70 M\) \| ≥ 3 M frames\/s \| \*\*missed\*\* \|/,
  );
  assert.match(
    md,
    /\| deno · native \| 1024 MiB \| 60\.0 \| 70\.0 \|/,
    "framed and bare side by side",
  );
  assert.deepEqual(schemaProblems(r), []);
});

test("cellsNearThresholds() picks the cells within noise of a target, with the raw cell they divide by", () => {
  const big = { payload: 65536, mode: "stream" as const };
  const r = report([
    row({ ...big, strategy: "raw" }),
    row({
      ...big,
      strategy: "length-prefix",
      receive: "callback",
      ratio_to_raw: 0.96,
      ratio_min: 0.9,
      ratio_max: 0.99,
      round_ratios: [0.9, 0.99],
    }),
    row({
      ...big,
      strategy: "length-prefix",
      receive: "callback",
      send: "write-with",
      ratio_to_raw: 0.94,
      ratio_min: 0.93,
      ratio_max: 0.96,
      round_ratios: [0.93, 0.96],
    }),
    row({ api: "node", ...big, strategy: "raw" }),
    row({
      api: "node",
      ...big,
      strategy: "length-prefix",
      receive: "callback",
      ratio_to_raw: 0.5,
      ratio_min: 0.4,
      ratio_max: 0.6,
      round_ratios: [0.4, 0.6],
    }),
    row({
      strategy: "length-prefix",
      receive: "callback",
      frames_per_s: 7e6,
      min: 6e6,
      max: 8e6,
      round_frames_per_s: [6e6, 8e6],
    }),
  ]);
  const near = cellsNearThresholds(r);
  assert.deepEqual([...near.keys()], ["deno|native"], "node:net's 0.5 is plainly missed");
  assert.deepEqual(near.get("deno|native"), [
    { strategy: "raw", mode: "stream", payload: 65536 },
    { strategy: "length-prefix", mode: "stream", payload: 65536, receive: "callback" },
    {
      strategy: "length-prefix",
      mode: "stream",
      payload: 65536,
      receive: "callback",
      send: "write-with",
    },
    { strategy: "length-prefix", mode: "stream", payload: 64, receive: "callback" },
  ], "the raw 64 KiB cell once for both ratios; no raw cell for a frames/s goal");
});

test("chooseExtraRounds() gives up to 3 extra rounds, only as many as the time left pays for", () => {
  const group = { cells: 4, secondsPerCell: 0.5, startupSeconds: 1 };
  assert.equal(chooseExtraRounds([], 100), 0, "nothing near a threshold");
  assert.equal(chooseExtraRounds([{ ...group, cells: 0 }], 100), 0);
  assert.equal(chooseExtraRounds([group], 100), 3, "never more than 3");
  assert.equal(chooseExtraRounds([group], 100, 5), 5);
  assert.equal(chooseExtraRounds([group, group], 10), 2, "2 × (1 + 2 × 2) = 10 s fits; 3 does not");
  assert.equal(chooseExtraRounds([group], 2.9), 0, "1 + 4 × 0.5 = 3 s is over");
  assert.equal(chooseExtraRounds([group], -5), 0, "over budget already");
});

test("runTitle() and isFiltered() name a filtered run by what it ran", () => {
  assert.equal(isFiltered({}), false);
  assert.equal(runTitle("quick", {}), "quick suite");
  assert.equal(runTitle("full", {}), "full suite");
  const filters = { runtime: "bun", api: "native", strategy: "raw,length-prefix", payload: "64" };
  assert.equal(isFiltered(filters), true);
  assert.equal(
    runTitle("quick", filters),
    "quick suite, filtered: runtime bun · api native · strategy raw, length-prefix · payload 64",
  );
  assert.equal(isFiltered({ transport: "tls" }), true);
  assert.equal(runTitle("quick", { transport: "tls" }), "quick suite, filtered: transport tls");
});

test("outputBase() writes to the ignored latest.* unless --out or --save says otherwise", () => {
  const whole = { suite: "quick" as const, filtered: false, save: false };
  assert.deepEqual(outputBase(whole), { base: "bench/results/latest" });
  assert.deepEqual(outputBase({ ...whole, save: true }), { base: "bench/results/quick" });
  assert.deepEqual(outputBase({ ...whole, suite: "full", save: true }), {
    base: "bench/results/full",
  });
  assert.deepEqual(outputBase({ ...whole, out: "/tmp/x" }), { base: "/tmp/x" });
  assert.deepEqual(outputBase({ ...whole, filtered: true, out: "/tmp/x" }), { base: "/tmp/x" });
  assert.deepEqual(outputBase({ ...whole, filtered: true }), { base: "bench/results/latest" });
  const refused = outputBase({ ...whole, filtered: true, save: true });
  assert.ok("error" in refused && /filtered/.test(refused.error), JSON.stringify(refused));
  const both = outputBase({ ...whole, save: true, out: "/tmp/x" });
  assert.ok("error" in both, "--save and --out together are refused");
});

test("Progress prints plain lines off a terminal and never shows its total while steps remain", () => {
  let text = "";
  const progress = new Progress((t) => (text += t), false);
  progress.plan(3);
  progress.start("first");
  progress.step();
  progress.start("second");
  progress.step();
  progress.plan(2); // extra rounds, planned before they start
  progress.start("third");
  progress.step();
  progress.start("fourth");
  progress.note("a client failed");
  progress.step(5); // a crashed client's cells are given up, never past the total
  progress.finish();
  assert.equal(
    text,
    "[0/3] first\n[1/3] second\n[2/5] third\n[3/5] fourth\na client failed\n",
  );
  assert.ok(!text.includes("\r") && !text.includes("\x1b"), "no carriage return, no escape codes");
  assert.equal(progress.done, progress.total);
  let tty = "";
  const terminal = new Progress((t) => (tty += t), true);
  terminal.plan(1);
  terminal.start("only");
  terminal.step();
  terminal.finish();
  assert.equal(tty, "\r\x1b[2K[0/1] only\r\x1b[2K", "a terminal gets one line, rewritten");
});

test("onCore() pins a command with taskset, or leaves it alone", () => {
  assert.deepEqual(onCore(["bun", ["x.ts"]], 1), ["taskset", ["-c", "1", "bun", "x.ts"]]);
  assert.deepEqual(onCore(["bun", ["x.ts"]], undefined), ["bun", ["x.ts"]]);
});

test("schemaProblems() checks what framed-bench/4 adds", () => {
  assert.equal(SCHEMA, "framed-bench/4");
  assert.ok(schemaProblems({ ...report([]), schema: "framed-bench/3" }).length > 0, "old schema");
  const bad = report([
    row({ send: "writev" as ResultRow["send"] }),
    row({ frames_per_s: 1000, min: 1100, max: 1200 }),
    row({ ratio_to_raw: 0.9, ratio_min: 0.95, ratio_max: 1 }),
    row({ rounds: undefined as unknown as number }),
    row({ round_frames_per_s: [] }),
    row({ round_ratios: [1, NaN] }),
  ]);
  bad.rss_checks[0]!.receiver = "naked" as "bare";
  bad.targets = [{
    name: "x",
    value: 1,
    min: null,
    max: null,
    rounds: null,
    goal: "≥ 1",
    met: true,
    verdict: "close" as "met",
  }];
  delete (bad.machine as Partial<Report["machine"]>).pinned;
  delete (bad as Partial<Report>).title;
  const problems = schemaProblems(bad);
  for (
    const expected of [
      "results[0].send is writev",
      "results[1]: frames_per_s must lie within min and max",
      "results[2]: ratio_to_raw must lie within ratio_min and ratio_max",
      "results[3].rounds must be number",
      "results[4].round_frames_per_s must be number[]",
      "results[5].round_ratios must be number[]|null",
      "rss_checks[0].receiver is naked",
      'targets[0].verdict is "close"',
      "machine must have cpu (string), cores (number) and pinned (boolean)",
      "title must be a string",
    ]
  ) {
    assert.ok(problems.some((p) => p.includes(expected)), `${expected}: ${problems.join("; ")}`);
  }
});

test("the chart has the headline panel, a whisker on every bar, the cost panel and a legend", () => {
  const both = { frames_per_s: 1e6, min: 0.8e6, max: 1.3e6 };
  const r = report([
    row({ strategy: "raw", frames_per_s: 3e7, min: 2.9e7, max: 3.1e7 }),
    row({ strategy: "length-prefix", receive: "callback", ...both }),
    row({ strategy: "length-prefix", receive: "for-await", ...both }),
    row({ strategy: "length-prefix", receive: "stream", ...both }),
    row({ runtime: "python", api: "asyncio", strategy: "length-prefix", ...both }),
    row({ strategy: "raw", mode: "ping-pong", rtt_p50_us: 30, frames_per_s: 1e6 / 30 }),
    row({
      strategy: "length-prefix",
      mode: "ping-pong",
      rtt_p50_us: 40,
      frames_per_s: 25_000,
      min: 20_000,
      max: 26_000,
    }),
    row({
      strategy: "ack-handshake",
      mode: "ping-pong",
      rtt_p50_us: 80,
      frames_per_s: 12_500,
      min: 12_000,
      max: 13_000,
    }),
    row({ strategy: "sleep", sleep_ms: 1, frames_per_s: 900 }),
  ]);
  const svg = svgChart(r);
  assert.match(svg, /64 B frames per second/);
  for (const receive of ["callback", "for-await", "stream"]) {
    assert.match(svg, new RegExp(`deno native · length-prefix \\(${receive}\\)`));
  }
  assert.match(svg, /python asyncio · length-prefix/, "the peer in the headline");
  assert.match(svg, /What each strategy costs per message/);
  assert.match(svg, /ack handshake, request\/reply \(2 round trips\)/);
  assert.match(svg, /sleep 1 ms/);
  assert.match(
    svg,
    /&quot;deno node&quot; is node:net inside Deno|"deno node" is node:net inside Deno/,
  );
  assert.match(svg, /Whiskers: the lowest to the highest round/);
  const bars = svg.match(/<rect x="\d+(\.\d+)?" y=/g)!.length;
  const whiskers = svg.match(/<path d="M[^"]*" stroke="#222"/g)!.length;
  assert.equal(whiskers, bars, "a whisker on every bar");
  // The headline's axis ends at the highest framed or peer figure (1.3 M): raw runs off it.
  assert.match(svg, /30\.00 M frames\/s \(off scale\)/);
  assert.doesNotMatch(svg, /1\.00 M frames\/s \(off scale\)/);
  const forAwait = svg.slice(svg.indexOf("length-prefix (for-await)"));
  const [, lo, hi] = /<path d="M([\d.]+) [\d.]+H([\d.]+)/.exec(forAwait)!;
  assert.deepEqual([Number(lo), Number(hi)], [
    Number((360 + (0.8e6 / 1.3e6) * 420).toFixed(1)),
    360 + 420,
  ], "for await's whisker: 0.8 M to 1.3 M, the end of a 420 px axis");
  const md = markdownReport(r);
  assert.match(md, /\| deno · native \| 64 B \| 12\.5 k ±[0-9]+ % \| 80\.0 ±[0-9]+ % \|/);
  assert.match(md, /\| 2\.00 \| 1 \|$/m, "the ack handshake: 2.00 × length-prefix's round trip");
  assert.match(md, /## What each strategy costs per message/);
});

// ── Plumbing: real sockets, this runtime ───────────────────────────────────────────────────────

const runtime = detectRuntime();

/** Sends `size` patterned bytes through an echoing raw loop and returns what came back. */
async function echoThrough(conn: RawConn, size: number): Promise<void> {
  const sent = Uint8Array.from({ length: size }, (_, i) => (i * 7) & 0xff);
  const back = new Uint8Array(size);
  let received = 0;
  const done = new Promise<void>((resolve, reject) => {
    const timer = setTimeout(
      () => reject(new Error(`echoed ${received} of ${size} bytes`)),
      20_000,
    );
    conn.onData((chunk) => {
      back.set(chunk, received);
      received += chunk.length;
      if (received >= size) {
        clearTimeout(timer);
        resolve();
      }
    });
  });
  await conn.write(sent);
  await done;
  assert.deepEqual(back, sent);
}

for (const api of SOCKET_APIS) {
  test(`the raw ${api} loops carry 4 MiB both ways over TLS and over a unix socket (${runtime})`, async () => {
    const pems = readTlsPems(tlsFixtures().dir);
    for (const transport of ["tls", "unix"] as const) {
      const listener = await rawListen(runtime, api, {
        transport,
        path: join(dirs.make("framed-bench-raw-"), "raw.sock"),
        tls: pems,
      }, (conn) => {
        // One write at a time: overlapping Deno writes could interleave their partial writes.
        let writing = Promise.resolve();
        conn.onData((chunk) => {
          const copy = chunk.slice();
          writing = writing.then(() => conn.write(copy));
        });
      });
      try {
        assert.equal(listener.endpoint.transport, transport);
        const conn = await rawConnect(runtime, api, listener.endpoint, pems);
        try {
          // Larger than any socket buffer, so partial writes and drain are part of it.
          await echoThrough(conn, 4 * 1024 * 1024);
          if (transport === "tls") {
            assert.ok(conn.session !== undefined, "a TLS connection says what it negotiated");
            // Deno's TlsConn does not tell; node:tls and Bun do.
            if (runtime !== "deno" || api === "node") {
              assert.equal(conn.session.protocol, "TLSv1.3");
            }
          } else {
            assert.equal(conn.session, undefined);
          }
        } finally {
          conn.close();
        }
      } finally {
        listener.close();
      }
    }
  });
}

test(`a tiny cell of each kind over TLS and a unix socket runs end to end in ${runtime}`, async () => {
  const api = SOCKET_APIS[0]!;
  // Round trips over TLS only, of 64 KiB: mitata times iterations under 65 µs in batches of
  // 4,096, which a unix round trip would be (seconds per cell).
  const cells: Cell[] = (["tls", "unix"] as const).flatMap((transport) => [
    { strategy: "raw", mode: "stream", payload: 4096, transport },
    { strategy: "length-prefix", mode: "stream", payload: 4096, receive: "callback", transport },
    ...(transport === "unix" ? [] : [
      { strategy: "raw", mode: "ping-pong", payload: 65536, transport },
      { strategy: "length-prefix", mode: "ping-pong", payload: 65536, transport },
    ] as const),
  ]);
  const events: Record<string, unknown>[] = [];
  const code = await runCells(
    runtime,
    api,
    cells,
    { measureMs: 5, sleepMessages: 1, timeoutMs: 60_000 },
    { tlsDir: tlsFixtures().dir, unixDir: dirs.make("framed-bench-cells-") },
    (event) => events.push(event),
  );
  assert.equal(code, 0, "the client exits 0");
  const rows = events.filter((e) => e.type === "result").map((e) => e.row as ResultRow);
  assert.deepEqual(
    rows.map((r) => `${r.runtime}/${r.api}/${r.transport}/${r.strategy}/${r.mode}`),
    cells.map((c) => `${runtime}/${api}/${c.transport}/${c.strategy}/${c.mode}`),
  );
  for (const r of rows) {
    assert.ok(r.frames_per_s > 0 && Number.isFinite(r.frames_per_s), JSON.stringify(r));
    assert.ok(r.samples > 0, "iterations were timed");
  }
  const sessions = events.filter((e) => e.type === "tls");
  assert.equal(sessions.length, 1, "the first raw TLS connection reports its session");
  const problems = schemaProblems({ ...report(rows), idle_checks: [] });
  assert.deepEqual(problems, []);
});

test(`the ack handshake, a writeWith stream and both memory checks run end to end over TCP in ${runtime}`, async () => {
  const api = SOCKET_APIS[0]!;
  const volume = 2 * 1024 * 1024;
  // 64 KiB messages: a round trip over 65 µs, so mitata times them one by one.
  const cells: Cell[] = [
    { strategy: "ack-handshake", mode: "ping-pong", payload: 65536 },
    { strategy: "length-prefix", mode: "ping-pong", payload: 65536 },
    {
      strategy: "length-prefix",
      mode: "stream",
      payload: 4096,
      receive: "callback",
      send: "write-with",
    },
    { strategy: "length-prefix", mode: "stream", payload: 65536, receive: "callback", volume },
    { strategy: "raw", mode: "stream", payload: 65536, volume },
  ];
  const events: Record<string, unknown>[] = [];
  const code = await runCells(
    runtime,
    api,
    cells,
    // The ack cell waits for the server's reply: without one, the client never ends and is killed.
    { measureMs: 5, sleepMessages: 1, timeoutMs: 30_000 },
    {},
    (event) => events.push(event),
  );
  assert.equal(code, 0, "the client exits 0");
  const rows = events.filter((e) => e.type === "result").map((e) => e.row as ResultRow);
  assert.deepEqual(rows.map((r) => [r.strategy, r.mode, r.send]), [
    ["ack-handshake", "ping-pong", null],
    ["length-prefix", "ping-pong", "write"],
    ["length-prefix", "stream", "write-with"],
  ]);
  for (const r of rows) {
    assert.ok(r.frames_per_s > 0 && r.min === r.frames_per_s && r.max === r.frames_per_s);
    assert.equal(r.rounds, 1);
  }
  assert.ok(rows[0]!.rtt_p50_us! > 0, "the ack handshake is timed as request/reply");
  const rss = events.filter((e) => e.type === "rss");
  assert.deepEqual(rss.map((e) => [e.receiver, e.bytes]), [["framed", volume], ["bare", volume]]);
  for (const e of rss) assert.ok((e.peak_rss_mb as number) > 0);
  assert.deepEqual(schemaProblems({ ...report(rows), idle_checks: [] }), []);
});
