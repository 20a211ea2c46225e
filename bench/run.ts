// `npm run bench`: every strategy × runtime × API over real loopback sockets (TCP, TLS and unix
// sockets), client and server in separate processes, with the raw hand-written baseline, the
// decoders alone, it-length-prefixed and Python asyncio in the same run. See bench/README.md for
// the method and the JSON schema.
//
//   npm run bench                         quick suite (under 100 s)
//   npm run bench -- --full               everything (under 10 minutes)
//   npm run bench -- --runtime deno,bun --strategy raw,length-prefix --payload 64 --json out.json
//   npm run bench -- --help               every option

import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import os from "node:os";
import { dirname, join } from "node:path";
import process from "node:process";
import { parseArgs } from "node:util";
import type { RuntimeName, SocketApi } from "../mod.ts";
import { tlsFixtures } from "../tests/_tls_fixtures.ts";
import {
  addIdleBaselines,
  addRatios,
  ALL_STRATEGIES,
  ALL_TRANSPORTS,
  type Cell,
  cellsFor,
  describeCell,
  IDLE_CONNECTIONS,
  median,
  PAYLOADS,
  type Report,
  type ResultRow,
  schemaProblems,
  type Strategy,
  type Transport,
} from "./_cells.ts";
import { idleCheck } from "./_idle.ts";
import { command, firstLine, runCells, runProcess, versionCommand } from "./_processes.ts";
import { evaluateTargets, markdownReport, svgChart, terminalTables } from "./_report.ts";

const HELP = `npm run bench -- [options]

  --full                 the full suite (5 rounds, 400 ms per cell, 10,000 idle connections)
  --runtime LIST         deno,bun,node (default: all)
  --api LIST             native,node (default: both; Node has node only)
  --strategy LIST        ${ALL_STRATEGIES.join(",")},idle (default: all). "idle" is the
                         idle-connection check (KiB per connection, accept rate); the others are cells
  --payload LIST         payload sizes in bytes (default: 64,65536 quick; 64,4096,65536 full)
  --transport LIST       ${ALL_TRANSPORTS.join(",")} (default: all). TLS and unix run raw and
                         length-prefix (onFrame) only: streams at the largest payload (quick), or at
                         the smallest and the largest plus TLS ping-pong at the smallest (full). The
                         memory check and the references (decoders alone, Python) need tcp
  --rounds N             rounds per cell (default: 2 quick, 5 full)
  --connections N        idle connections held per server (default: ${IDLE_CONNECTIONS.quick} quick, ${IDLE_CONNECTIONS.full} full)
  --out PREFIX           write PREFIX.json, .md and .svg (default: bench/results/<suite>)
  --json FILE            also write the JSON report to FILE
  --help                 this text

Examples:
  npm run bench -- --strategy idle --out /tmp/idle
  npm run bench -- --runtime deno --api native --strategy length-prefix --payload 65536 --out /tmp/s64
  npm run bench -- --runtime bun --api native --strategy raw,length-prefix --transport tls --out /tmp/tls`;

const { values } = parseArgs({
  options: {
    full: { type: "boolean", default: false },
    runtime: { type: "string", default: "deno,bun,node" },
    api: { type: "string", default: "native,node" },
    strategy: { type: "string", default: [...ALL_STRATEGIES, "idle"].join(",") },
    payload: { type: "string" },
    transport: { type: "string", default: ALL_TRANSPORTS.join(",") },
    rounds: { type: "string" },
    connections: { type: "string" },
    out: { type: "string" },
    json: { type: "string" },
    help: { type: "boolean", default: false },
  },
});
if (values.help) {
  console.log(HELP);
  process.exit(0);
}
const full = values.full!;
const runtimes = values.runtime!.split(",") as RuntimeName[];
const apis = values.api!.split(",") as SocketApi[];
const checks = values.strategy!.split(",");
const idle = checks.includes("idle");
const strategies = checks.filter((s) => s !== "idle") as Strategy[];
const transports = values.transport!.split(",") as Transport[];
const idleConnections = Number(
  values.connections ?? (full ? IDLE_CONNECTIONS.full : IDLE_CONNECTIONS.quick),
);
const payloads = values.payload
  ? values.payload.split(",").map(Number)
  : [...(full ? PAYLOADS.full : PAYLOADS.quick)];
const rounds = Number(values.rounds ?? (full ? 5 : 2));
const measureMs = full ? 400 : 120;
const sleepMessages = full ? 200 : 50;
const rssBytes = full ? 1024 ** 3 : 256 * 1024 ** 2;
for (const r of runtimes) {
  if (!["deno", "bun", "node"].includes(r)) throw new Error(`unknown runtime ${r}`);
}
for (const s of strategies) {
  if (!ALL_STRATEGIES.includes(s)) throw new Error(`unknown strategy ${s}`);
}
for (const a of apis) {
  if (!["native", "node"].includes(a)) throw new Error(`unknown api ${a}`);
}
for (const t of transports) {
  if (!ALL_TRANSPORTS.includes(t)) throw new Error(`unknown transport ${t}`);
}
if (!(idleConnections >= 1 && idleConnections <= 15_000)) {
  throw new Error("--connections must be 1 to 15,000 (each one is a file descriptor)");
}

let progress = 0;
let progressTotal = 0;
const status = (text: string) =>
  process.stdout.write(`\r\x1b[2K[${progress}/${progressTotal}] ${text}`);

async function runClient(
  runtime: RuntimeName,
  api: SocketApi,
  cells: Cell[],
  onEvent: (e: Record<string, unknown>) => void,
) {
  const code = await runCells(
    runtime,
    api,
    cells,
    { measureMs, sleepMessages },
    places(cells),
    (event) => {
      if (event.type === "start") {
        status(`${runtime} ${api}: ${describeCell(cells[event.index as number]!)}`);
      } else if (event.type !== "tls") {
        progress++;
      }
      onEvent(event);
    },
  );
  if (code !== 0) {
    console.log(`\n${runtime} ${api}: the client exited with ${code}; its cells are missing`);
  }
}

// TLS certificates (openssl, at start, in a temporary directory removed at exit: the same as the
// tests', tests/_tls_fixtures.ts) and a directory for unix sockets, made when a cell needs them.
let unixDir: string | undefined;
function places(cells: Cell[]) {
  const uses = (t: Transport) => cells.some((c) => c.transport === t);
  if (uses("unix") && unixDir === undefined) {
    const dir = mkdtempSync(join(os.tmpdir(), "framed-bench-"));
    process.once("exit", () => rmSync(dir, { recursive: true, force: true }));
    unixDir = dir;
  }
  return {
    ...(uses("tls") ? { tlsDir: tlsFixtures().dir } : {}),
    ...(uses("unix") ? { unixDir } : {}),
  };
}

// ── Plan ─────────────────────────────────────────────────────────────────────────────────────

const combos = runtimes.flatMap((runtime) =>
  (runtime === "node" ? ["node"] : ["native", "node"])
    .filter((api) => apis.includes(api as SocketApi))
    .map((api) => ({ runtime, api: api as SocketApi }))
);
const cells = cellsFor({ full, strategies, payloads, transports });
// Rounds interleave the cells, so a burst of noise on this shared machine hits every cell alike.
const plan = Array.from({ length: rounds }, () => cells).flat().filter((c, i) =>
  c.strategy !== "sleep" || i < cells.length
);
// The memory check and the references (decoders alone, Python) are TCP figures: they run when TCP
// length-prefix cells do.
const references = strategies.includes("length-prefix") && transports.includes("tcp");
const rssCombos = combos.filter((c) => c.api === "native" && references);
progressTotal = combos.length * plan.length + rssCombos.length + (idle ? combos.length * 2 : 0);
const started = Date.now();
console.log(
  `framed benchmark (${
    full ? "full" : "quick"
  }): ${combos.length} runtime × API combinations, ${cells.length} cells × ${rounds} rounds each`,
);

const report: Report = {
  schema: "framed-bench/3",
  date: new Date().toISOString(),
  suite: full ? "full" : "quick",
  runtimes: {},
  machine: {
    cpu: os.cpus()[0]?.model ?? "unknown",
    cores: os.cpus().length,
    memory_gb: Math.round(os.totalmem() / 2 ** 30),
    os: `${os.type()} ${os.release()}`,
  },
  results: [],
  rss_checks: [],
  idle_checks: [],
  codec_only: [],
  tls_sessions: [],
  targets: [],
};
for (const runtime of runtimes) {
  const text = await firstLine(...versionCommand(runtime));
  report.runtimes[runtime] = text.replace(/^deno /, "").replace(/^v/, "").split(" ")[0]!;
}

// ── Sockets ──────────────────────────────────────────────────────────────────────────────────

const samples = new Map<string, ResultRow[]>();
for (const { runtime, api } of plan.length > 0 ? combos : []) {
  await runClient(runtime, api, plan, (event) => {
    if (event.type === "tls") {
      const { protocol, cipher } = event as { protocol: string | null; cipher: string | null };
      report.tls_sessions.push({ runtime, api, protocol, cipher });
    }
    if (event.type !== "result") return;
    const row = event.row as ResultRow;
    const key = JSON.stringify([
      row.runtime,
      row.api,
      row.transport,
      row.strategy,
      row.mode,
      row.payload,
      row.receive,
      row.sleep_ms,
    ]);
    samples.set(key, [...(samples.get(key) ?? []), row]);
  });
}
for (const { runtime, api } of rssCombos) {
  await runClient(runtime, api, [{
    strategy: "length-prefix",
    mode: "stream",
    payload: 65536,
    receive: "callback",
    volume: rssBytes,
  }], (event) => {
    if (event.type === "rss") {
      report.rss_checks.push({
        runtime,
        api,
        bytes: event.bytes as number,
        peak_rss_mb: event.peak_rss_mb as number,
      });
    }
  });
}

// The median of the rounds for every figure; spread is the rounds' range relative to that median
// (or mitata's interquartile spread when there was one round).
for (const rows of samples.values()) {
  const pick = (f: (r: ResultRow) => number | null) => {
    const xs = rows.map(f).filter((x): x is number => x !== null);
    return xs.length ? median(xs) : null;
  };
  const fps = rows.map((r) => r.frames_per_s);
  report.results.push({
    ...rows[0]!,
    frames_per_s: median(fps),
    mb_per_s: pick((r) => r.mb_per_s)!,
    rtt_p50_us: pick((r) => r.rtt_p50_us),
    rtt_p99_us: pick((r) => r.rtt_p99_us),
    peak_rss_mb: Math.max(...rows.map((r) => r.peak_rss_mb ?? 0)),
    sticky_rate: pick((r) => r.sticky_rate),
    spread: rows.length > 1 ? (Math.max(...fps) - Math.min(...fps)) / median(fps) : rows[0]!.spread,
    samples: rows.reduce((n, r) => n + r.samples, 0),
  });
}
addRatios(report.results);

// ── Idle connections: KiB per connection and accept rate, framed echo vs the bare echo ──────

if (idle) {
  for (const { runtime, api } of combos) {
    for (const echo of ["bare", "framed"] as const) {
      status(`${runtime} ${api}: ${idleConnections} idle connections, ${echo} echo`);
      try {
        report.idle_checks.push(
          await idleCheck(runtime, api, echo, {
            connections: idleConnections,
            settleMs: full ? 1000 : 300,
            deadlineMs: 60_000,
          }),
        );
      } catch (error) {
        console.log(`\n${runtime} ${api} ${echo}: the idle check failed: ${error}`);
      }
      progress++;
    }
  }
  addIdleBaselines(report.idle_checks);
}

// ── References: decoders alone, it-length-prefixed, Python asyncio ──────────────────────────

if (references) {
  for (const runtime of runtimes) {
    status(`${runtime}: decoders alone (framed, it-length-prefixed)`);
    const [cmd, args] = command(runtime, "bench/codec_bench.ts");
    await runProcess(cmd, [...args, "--payloads", payloads.join(",")], (line) => {
      if (line.startsWith("[")) report.codec_only.push(...JSON.parse(line));
    }).done;
  }
  status("python3 asyncio + struct");
  report.runtimes.python =
    (await firstLine("python3", ["bench/peers/asyncio_bench.py", "version"])) || "unknown";
  let port = "";
  const py = runProcess(
    "python3",
    ["bench/peers/asyncio_bench.py", "server"],
    (line) => (port = line.split(" ")[1] ?? ""),
  );
  const deadline = Date.now() + 10_000;
  while (port === "" && Date.now() < deadline) await new Promise((r) => setTimeout(r, 20));
  await runProcess("python3", [
    "bench/peers/asyncio_bench.py",
    "client",
    port,
    payloads.join(","),
    String(measureMs * rounds / 1000),
  ], (line) => {
    if (line.startsWith("{")) report.results.push(JSON.parse(line));
  }).done;
  py.kill();
}

report.targets = evaluateTargets(report);
const problems = schemaProblems(report);
if (problems.length > 0) {
  throw new Error(`the report breaks its own schema:\n${problems.join("\n")}`);
}

// ── Output ───────────────────────────────────────────────────────────────────────────────────

process.stdout.write("\r\x1b[2K");
console.log(terminalTables(report));
const base = values.out ?? `bench/results/${report.suite}`;
mkdirSync(dirname(base), { recursive: true });
writeFileSync(`${base}.json`, JSON.stringify(report, null, 2) + "\n");
writeFileSync(`${base}.md`, markdownReport(report));
writeFileSync(`${base}.svg`, svgChart(report));
if (values.json) writeFileSync(values.json, JSON.stringify(report, null, 2) + "\n");
console.log(
  `wrote ${base}.json, ${base}.md and ${base}.svg${values.json ? ` and ${values.json}` : ""} in ${
    ((Date.now() - started) / 1000).toFixed(0)
  } s`,
);
