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
  cellsFor,
  figures,
  framesPerBatch,
  type IdleRow,
  median,
  type Report,
  type ResultRow,
  schemaProblems,
} from "../bench/_cells.ts";
import { runCells } from "../bench/_processes.ts";
import { type RawConn, rawConnect, rawListen, readTlsPems } from "../bench/_raw.ts";
import { evaluateTargets, markdownReport, svgChart, terminalTables } from "../bench/_report.ts";
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
  schema: "framed-bench/3",
  date: "2026-11-27T00:00:00.000Z",
  suite: "quick",
  runtimes: { deno: "2.9.6" },
  machine: { cpu: "test cpu", cores: 2, memory_gb: 24, os: "Linux" },
  results,
  rss_checks: [{ runtime: "deno", api: "native", bytes: 2 ** 30, peak_rss_mb: 60 }],
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
    16,
    "TCP keeps its five cells per payload, and the stream API's at the smallest",
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
