// `npm run bench`: every strategy × runtime × API over real loopback sockets (TCP, TLS and unix
// sockets), client and server in separate processes, with the raw hand-written baseline, the
// decoders alone, it-length-prefixed and Python asyncio in the same run. See bench/README.md for
// the method and the JSON schema.
//
//   npm run bench                         quick suite (≤ 90 s), written to bench/results/latest.*
//   npm run bench -- --full               everything (under 10 minutes)
//   npm run bench -- --save               replace the committed bench/results/<suite>.*
//   npm run bench -- --runtime deno,bun --strategy raw,length-prefix --payload 64 --out /tmp/x
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
  combineRounds,
  describeCell,
  IDLE_CONNECTIONS,
  PAYLOADS,
  type Report,
  type ResultRow,
  rowKey,
  SCHEMA,
  schemaProblems,
  type Strategy,
  type Transport,
} from "./_cells.ts";
import { idleCheck } from "./_idle.ts";
import {
  canPin,
  command,
  CORES,
  firstLine,
  onCore,
  runCells,
  runProcess,
  versionCommand,
} from "./_processes.ts";
import {
  chooseExtraRounds,
  type ExtraRoundsGroup,
  isFiltered,
  MAX_EXTRA_ROUNDS,
  outputBase,
  runTitle,
  SUITE_BUDGET_S,
} from "./_plan.ts";
import { Progress } from "./_progress.ts";
import {
  cellsNearThresholds,
  evaluateTargets,
  markdownReport,
  svgChart,
  terminalTables,
} from "./_report.ts";

const HELP = `npm run bench -- [options]

  --full                 the full suite (5 rounds, 400 ms per cell, 10,000 idle connections)
  --save                 write the committed reference results bench/results/<suite>.json, .md
                         and .svg (whole suites only: refused with any filter below)
  --out PREFIX           write PREFIX.json, .md and .svg (default: bench/results/latest, which
                         git ignores)
  --json FILE            also write the JSON report to FILE

Filters (a filtered run is titled by what it ran):
  --runtime LIST         deno,bun,node (default: all)
  --api LIST             native,node (default: both; Node has node only)
  --strategy LIST        ${ALL_STRATEGIES.join(",")},idle (default: all). "idle" is the
                         idle-connection check (KiB per connection, accept rate); the others are cells
  --payload LIST         payload sizes in bytes (default: 64,65536 quick; 64,4096,65536 full)
  --transport LIST       ${ALL_TRANSPORTS.join(",")} (default: all). TLS and unix run raw and
                         length-prefix (onFrame) only: streams at the largest payload (quick), or at
                         the smallest and the largest plus TLS ping-pong at the smallest (full). The
                         memory check and the references (decoders alone, Python) need tcp

Measuring:
  --rounds N             rounds per cell (default: 2 quick, 5 full); a cell whose figure is within
                         noise of a target's threshold gets up to ${MAX_EXTRA_ROUNDS} more, as time allows
                         (the quick suite stays within ${SUITE_BUDGET_S.quick} s, the full within ${SUITE_BUDGET_S.full} s)
  --connections N        idle connections held per server (default: ${IDLE_CONNECTIONS.quick} quick, ${IDLE_CONNECTIONS.full} full)
  --help                 this text

Where taskset exists, every server runs on core ${CORES.server} and every client on core ${CORES.client}
(--unpinned: let the kernel place them, to compare).

Examples:
  npm run bench -- --strategy idle --out /tmp/idle
  npm run bench -- --runtime deno --api native --strategy length-prefix --payload 65536 --out /tmp/s64
  npm run bench -- --runtime bun --api native --strategy raw,length-prefix --transport tls --out /tmp/tls`;

const { values } = parseArgs({
  options: {
    full: { type: "boolean", default: false },
    save: { type: "boolean", default: false },
    unpinned: { type: "boolean", default: false },
    runtime: { type: "string" },
    api: { type: "string" },
    strategy: { type: "string" },
    payload: { type: "string" },
    transport: { type: "string" },
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
const suite = full ? "full" : "quick";
const filters = {
  runtime: values.runtime,
  api: values.api,
  strategy: values.strategy,
  payload: values.payload,
  transport: values.transport,
};
const output = outputBase({
  suite,
  filtered: isFiltered(filters),
  save: values.save!,
  out: values.out,
});
if ("error" in output) {
  console.error(output.error);
  process.exit(2);
}
const runtimes = (values.runtime ?? "deno,bun,node").split(",") as RuntimeName[];
const apis = (values.api ?? "native,node").split(",") as SocketApi[];
const checks = (values.strategy ?? [...ALL_STRATEGIES, "idle"].join(",")).split(",");
const idle = checks.includes("idle");
const strategies = checks.filter((s) => s !== "idle") as Strategy[];
const transports = (values.transport ?? ALL_TRANSPORTS.join(",")).split(",") as Transport[];
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

const progress = new Progress((text) => process.stdout.write(text), process.stdout.isTTY === true);
const pin = !values.unpinned && canPin();
const core = (which: keyof typeof CORES) => (pin ? CORES[which] : undefined);

/** What one client run cost: for estimating what extra rounds would. */
interface ClientTiming {
  cells: number;
  startupSeconds: number;
  secondsPerCell: number;
}

/** Runs `cells` in one server and one client process; one progress step per cell. */
async function runClient(
  runtime: RuntimeName,
  api: SocketApi,
  cells: Cell[],
  onEvent: (e: Record<string, unknown>) => void,
): Promise<ClientTiming> {
  const started = performance.now();
  let firstStart = 0;
  let finished = 0;
  const code = await runCells(
    runtime,
    api,
    cells,
    { measureMs, sleepMessages, pin },
    places(cells),
    (event) => {
      if (event.type === "start") {
        firstStart ||= performance.now();
        progress.start(`${runtime} ${api}: ${describeCell(cells[event.index as number]!)}`);
      } else if (event.type === "result" || event.type === "rss") {
        finished++;
        progress.step();
      }
      onEvent(event);
    },
  );
  // The steps a crashed client never reached are given up, so the counter still ends at its total.
  progress.step(cells.length - finished);
  if (code !== 0) {
    progress.note(
      `${runtime} ${api}: the client exited with ${code}; ${
        cells.length - finished
      } of its cells are missing`,
    );
  }
  const ended = performance.now();
  firstStart ||= ended;
  return {
    cells: cells.length,
    startupSeconds: (firstStart - started) / 1000,
    secondsPerCell: (ended - firstStart) / 1000 / Math.max(1, cells.length),
  };
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
/** `count` rounds of `cells`, interleaved, so a burst of noise on this shared machine hits every
 * cell alike; sleep cells (a fixed number of messages, not a timing) run in the first only. */
const roundsOf = (cells: Cell[], count: number) =>
  Array.from({ length: count }, () => cells).flat().filter((c, i) =>
    c.strategy !== "sleep" || i < cells.length
  );
const plan = roundsOf(cells, rounds);
// The memory check and the references (decoders alone, Python) are TCP figures: they run when TCP
// length-prefix cells do.
const references = strategies.includes("length-prefix") && transports.includes("tcp");
const rssCombos = combos.filter((c) => c.api === "native" && references);
const rssReceivers = ["framed", "bare"] as const;
progress.plan(
  (plan.length > 0 ? combos.length * plan.length : 0) +
    rssCombos.length * rssReceivers.length +
    (idle ? combos.length * 2 : 0) +
    (references ? runtimes.length + 1 : 0),
);
// From this process's start (performance.now() counts from it), so the budget includes it.
const started = Date.now() - performance.now();
const phases: string[] = [];
let phaseStart = Date.now();
const phaseDone = (name: string) => {
  phases.push(`${name} ${((Date.now() - phaseStart) / 1000).toFixed(0)} s`);
  phaseStart = Date.now();
};
const title = runTitle(suite, filters);
console.log(
  `framed benchmark (${title}): ${combos.length} runtime × API combinations, ${cells.length} cells × ${rounds} rounds each${
    pin ? `, servers on core ${CORES.server}, clients on core ${CORES.client}` : ", not pinned"
  }`,
);

const report: Report = {
  schema: SCHEMA,
  date: new Date().toISOString(),
  suite,
  title,
  runtimes: {},
  machine: {
    cpu: os.cpus()[0]?.model ?? "unknown",
    cores: os.cpus().length,
    memory_gb: Math.round(os.totalmem() / 2 ** 30),
    os: `${os.type()} ${os.release()}`,
    pinned: pin,
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

/** Every round of every cell, keyed by rowKey, in the order the rounds ran. */
const samples = new Map<string, ResultRow[]>();
const timings = new Map<string, ClientTiming>();
const collect = (runtime: RuntimeName, api: SocketApi) => (event: Record<string, unknown>) => {
  if (
    event.type === "tls" && !report.tls_sessions.some((t) => t.runtime === runtime && t.api === api)
  ) {
    const { protocol, cipher } = event as { protocol: string | null; cipher: string | null };
    report.tls_sessions.push({ runtime, api, protocol, cipher });
  }
  if (event.type !== "result") return;
  const row = event.row as ResultRow;
  samples.set(rowKey(row), [...(samples.get(rowKey(row)) ?? []), row]);
};
for (const { runtime, api } of plan.length > 0 ? combos : []) {
  timings.set(`${runtime}|${api}`, await runClient(runtime, api, plan, collect(runtime, api)));
}
phaseDone("sockets");

// Peak RSS of a fresh receiving process, framed and bare (the raw loop of bench/_raw.ts), each in
// its own server process so that neither inherits the other's high-water mark.
for (const { runtime, api } of rssCombos) {
  for (const receiver of rssReceivers) {
    await runClient(runtime, api, [{
      strategy: receiver === "framed" ? "length-prefix" : "raw",
      mode: "stream",
      payload: 65536,
      ...(receiver === "framed" ? { receive: "callback" as const } : {}),
      volume: rssBytes,
    }], (event) => {
      if (event.type === "rss") {
        report.rss_checks.push({
          runtime,
          api,
          receiver,
          bytes: event.bytes as number,
          peak_rss_mb: event.peak_rss_mb as number,
        });
      }
    });
  }
}
if (rssCombos.length) phaseDone("memory");

// ── Idle connections: KiB per connection and accept rate, framed echo vs the bare echo ──────

if (idle) {
  for (const { runtime, api } of combos) {
    for (const echo of ["bare", "framed"] as const) {
      progress.start(`${runtime} ${api}: ${idleConnections} idle connections, ${echo} echo`);
      try {
        report.idle_checks.push(
          await idleCheck(runtime, api, echo, {
            connections: idleConnections,
            settleMs: full ? 1000 : 300,
            deadlineMs: 60_000,
          }),
        );
      } catch (error) {
        progress.note(`${runtime} ${api} ${echo}: the idle check failed: ${error}`);
      }
      progress.step();
    }
  }
  addIdleBaselines(report.idle_checks);
  phaseDone("idle");
}

// ── References: decoders alone, it-length-prefixed, Python asyncio ──────────────────────────

const peers: ResultRow[] = [];
if (references) {
  for (const runtime of runtimes) {
    progress.start(`${runtime}: decoders alone (framed, it-length-prefixed)`);
    const [cmd, args] = onCore(command(runtime, "bench/codec_bench.ts"), core("client"));
    await runProcess(cmd, [
      ...args,
      ...["--payloads", payloads.join(","), "--time", String(measureMs)],
    ], (line) => {
      if (line.startsWith("[")) report.codec_only.push(...JSON.parse(line));
    }).done;
    progress.step();
  }
  progress.start("python3 asyncio + struct");
  report.runtimes.python =
    (await firstLine("python3", ["bench/peers/asyncio_bench.py", "version"])) || "unknown";
  let port = "";
  const py = runProcess(
    ...onCore(["python3", ["bench/peers/asyncio_bench.py", "server"]], core("server")),
    (line) => (port = line.split(" ")[1] ?? ""),
  );
  const deadline = Date.now() + 10_000;
  while (port === "" && Date.now() < deadline) await new Promise((r) => setTimeout(r, 20));
  await runProcess(
    ...onCore([
      "python3",
      [
        "bench/peers/asyncio_bench.py",
        "client",
        port,
        payloads.join(","),
        String(measureMs / 1000),
        String(rounds),
      ],
    ], core("client")),
    (line) => {
      if (line.startsWith("{")) peers.push(JSON.parse(line));
    },
  ).done;
  py.kill();
  progress.step();
  phaseDone("references");
}

/** The report's rows from every round so far: medians, ranges and ratios; the peers last. */
function results(): ResultRow[] {
  const rows = [...samples.values()].map(combineRounds);
  addRatios(rows, samples);
  return [...rows, ...peers];
}
report.results = results();
report.targets = evaluateTargets(report);

// ── Extra rounds for the figures within noise of a threshold, as time allows ───────────────

const near = cellsNearThresholds(report);
if (near.size > 0) {
  const groups = [...near].map(([combo, cells]) => {
    const [runtime, api] = combo.split("|") as [RuntimeName, SocketApi];
    const timing = timings.get(combo)!;
    return { runtime, api, cells, timing };
  });
  // Seconds are kept for writing the report and for npm's own start and exit around this process.
  const secondsLeft = SUITE_BUDGET_S[suite] - (Date.now() - started) / 1000 - 6;
  const extra = chooseExtraRounds(
    groups.map((g): ExtraRoundsGroup => ({ ...g.timing, cells: g.cells.length })),
    secondsLeft,
  );
  const count = groups.reduce((n, g) => n + g.cells.length, 0);
  if (extra === 0) {
    progress.note(
      `${count} cells are within noise of a target, but no extra round fits in the ${
        SUITE_BUDGET_S[suite]
      } s budget (${Math.max(0, secondsLeft).toFixed(0)} s left)`,
    );
  } else {
    progress.plan(groups.reduce((n, g) => n + extra * g.cells.length, 0));
    for (const g of groups) {
      await runClient(g.runtime, g.api, roundsOf(g.cells, extra), collect(g.runtime, g.api));
    }
    phaseDone(`${extra} extra rounds of ${count} cells`);
    report.results = results();
    report.targets = evaluateTargets(report);
  }
}

const problems = schemaProblems(report);
if (problems.length > 0) {
  throw new Error(`the report breaks its own schema:\n${problems.join("\n")}`);
}

// ── Output ───────────────────────────────────────────────────────────────────────────────────

progress.finish();
console.log(terminalTables(report));
const base = output.base;
mkdirSync(dirname(base), { recursive: true });
writeFileSync(`${base}.json`, JSON.stringify(report, null, 2) + "\n");
writeFileSync(`${base}.md`, markdownReport(report));
writeFileSync(`${base}.svg`, svgChart(report));
if (values.json) writeFileSync(values.json, JSON.stringify(report, null, 2) + "\n");
console.log(
  `wrote ${base}.json, ${base}.md and ${base}.svg${values.json ? ` and ${values.json}` : ""} in ${
    ((Date.now() - started) / 1000).toFixed(0)
  } s (${phases.join(", ")})`,
);
if (!values.save && values.out === undefined) {
  console.log(
    isFiltered(filters)
      ? "a filtered run: the committed bench/results stay as they are"
      : `the committed bench/results/${suite}.* stay as they are: --save replaces them`,
  );
}
