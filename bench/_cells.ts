// What the benchmark measures (cells), and how raw timings become the figures of the JSON schema.
// Pure functions only: tests/bench_harness_test.ts covers them.

import type { RuntimeName, SocketApi } from "../mod.ts";

export type Strategy = "raw" | "length-prefix" | "ack-handshake" | "sleep";
export type Mode = "stream" | "ping-pong";
/** How the framed server receives: `onFrame`, `for await`, or `conn.readable` (Web Streams). */
export type Receive = "callback" | "for-await" | "stream";
/** What the bytes travel over: loopback TCP, TLS on loopback TCP, or a unix domain socket. */
export type Transport = "tcp" | "tls" | "unix";
/**
 * How the framed client hands a frame over: `conn.write(frame)` (the body is copied into the
 * outgoing buffer), or `conn.writeWith(length, fill)` (the body is written in place).
 */
export type Send = "write" | "write-with";

/** One measurement: a strategy, a mode and a payload size, in one runtime × API. */
export interface Cell {
  strategy: Strategy;
  mode: Mode;
  payload: number;
  /** length-prefix streams: the fast callback path, `for await`, or `conn.readable.pipeTo`. */
  receive?: Receive;
  /** sleep: milliseconds between messages. */
  sleepMs?: number;
  /** A memory check instead of a timing: send exactly this many bytes, report peak RSS. */
  volume?: number;
  /** Absent means TCP. */
  transport?: Transport;
  /** length-prefix cells: how the client sends each frame. Absent means `write`. */
  send?: Send;
}

/** A row of `results` in the JSON report. Documented in bench/README.md. */
export interface ResultRow {
  runtime: string;
  api: SocketApi | "asyncio";
  transport: Transport;
  strategy: Strategy;
  mode: Mode;
  payload: number;
  receive: Receive | null;
  /** length-prefix rows: `write` or `write-with`; null for the others (raw, ack, sleep, peers). */
  send: Send | null;
  sleep_ms: number | null;
  frames_per_s: number;
  /** The lowest `frames_per_s` of the rounds (a ping-pong round's is 1 / its p50). */
  min: number;
  /** The highest `frames_per_s` of the rounds. */
  max: number;
  mb_per_s: number;
  rtt_p50_us: number | null;
  rtt_p99_us: number | null;
  peak_rss_mb: number | null;
  ratio_to_raw: number | null;
  /** The lowest of the per-round ratios (round i against the raw row's round i) and the ratio. */
  ratio_min: number | null;
  /** The highest of the per-round ratios and the ratio. */
  ratio_max: number | null;
  sticky_rate: number | null;
  spread: number;
  /** Rounds measured (more than the suite's for a cell near a target's threshold). */
  rounds: number;
  /** The frames/s of each round, in the order they ran. */
  round_frames_per_s: number[];
  /** Each round's ratio to the raw row's round of the same index; null where there is no ratio. */
  round_ratios: number[] | null;
  samples: number;
}

export const PAYLOADS = { quick: [64, 65536], full: [64, 4096, 65536] } as const;
export const SLEEPS = { quick: [0, 1], full: [0, 1, 5] } as const;
export const ALL_STRATEGIES: readonly Strategy[] = [
  "raw",
  "length-prefix",
  "ack-handshake",
  "sleep",
];
export const ALL_TRANSPORTS: readonly Transport[] = ["tcp", "tls", "unix"];
/** The payload of the `conn.writeWith` cell (TCP, onFrame): 64 KiB, where a copy costs most. */
export const WRITE_WITH_PAYLOAD = 65536;

/** Bytes per stream iteration: a whole number of frames, about 1 MiB. */
export function framesPerBatch(payload: number): number {
  return Math.max(1, Math.floor((1024 * 1024) / (payload + 4)));
}

/**
 * The cells of one runtime × API, in the order they run. TCP gets every strategy at every payload.
 * TLS and unix sockets get raw and length-prefix (onFrame) only, to keep the suites within their
 * time: in the full suite, streams at the smallest and the largest payload (64 B and 64 KiB) and,
 * for TLS, ping-pong at the smallest; in the quick suite, streams at the largest payload alone.
 */
export function cellsFor(
  options: {
    full: boolean;
    strategies: readonly Strategy[];
    payloads: readonly number[];
    transports?: readonly Transport[];
  },
): Cell[] {
  const cells: Cell[] = [];
  const want = (s: Strategy) => options.strategies.includes(s);
  const sleeps = options.full ? SLEEPS.full : SLEEPS.quick;
  const transports = options.transports ?? ["tcp"];
  const largest = Math.max(...options.payloads);
  const smallest = Math.min(...options.payloads);
  for (const payload of options.payloads) {
    // raw first: it is the baseline every other row of the same payload is a ratio of, so it runs
    // whenever a strategy that is compared with it does.
    if (transports.includes("tcp")) {
      if (want("raw") || want("length-prefix") || want("ack-handshake")) {
        cells.push({ strategy: "raw", mode: "stream", payload });
        cells.push({ strategy: "raw", mode: "ping-pong", payload });
      }
      if (want("length-prefix")) {
        cells.push({ strategy: "length-prefix", mode: "stream", payload, receive: "callback" });
        // The send path that writes a body in place (conn.writeWith): where copying costs most.
        if (payload === WRITE_WITH_PAYLOAD) {
          cells.push({
            strategy: "length-prefix",
            mode: "stream",
            payload,
            receive: "callback",
            send: "write-with",
          });
        }
        cells.push({ strategy: "length-prefix", mode: "stream", payload, receive: "for-await" });
        // The Web Streams API costs per frame, not per byte: measured at the smallest payload.
        if (payload === smallest) {
          cells.push({ strategy: "length-prefix", mode: "stream", payload, receive: "stream" });
        }
        cells.push({ strategy: "length-prefix", mode: "ping-pong", payload });
      }
      if (want("ack-handshake")) {
        cells.push({ strategy: "ack-handshake", mode: "ping-pong", payload });
      }
      if (want("sleep") && (options.full || payload === options.payloads[0])) {
        for (const sleepMs of sleeps) {
          cells.push({ strategy: "sleep", mode: "stream", payload, sleepMs });
        }
      }
    }
    if (payload !== largest && (!options.full || payload !== smallest)) continue;
    for (const transport of transports.filter((t) => t !== "tcp")) {
      // A unix round trip is as short as TCP's, and mitata times iterations under 65 µs in
      // batches of 4,096 (12 batches at least), which would cost the suite seconds per cell.
      const pingPong = options.full && transport === "tls" && payload === smallest;
      for (const mode of pingPong ? ["stream", "ping-pong"] as const : ["stream"] as const) {
        if (want("raw") || want("length-prefix")) {
          cells.push({ strategy: "raw", mode, payload, transport });
        }
        if (want("length-prefix")) {
          cells.push({
            strategy: "length-prefix",
            mode,
            payload,
            ...(mode === "stream" ? { receive: "callback" as const } : {}),
            transport,
          });
        }
      }
    }
  }
  return cells;
}

export function describeCell(cell: Cell): string {
  const extra = cell.receive
    ? ` (${cell.receive}${cell.send === "write-with" ? ", sent with writeWith" : ""})`
    : cell.sleepMs !== undefined
    ? ` (sleep ${cell.sleepMs} ms)`
    : "";
  const over = cell.transport && cell.transport !== "tcp" ? ` over ${cell.transport}` : "";
  const what = cell.volume !== undefined
    ? `${formatBytes(cell.volume)} received, ${cell.strategy === "raw" ? "bare" : "framed"}`
    : cell.mode;
  return `${cell.strategy} ${what} ${formatBytes(cell.payload)}${extra}${over}`;
}

/** The `send` field of a row measured with `cell`: null unless framed writes carry it. */
export function sendOf(cell: Cell): Send | null {
  return cell.strategy === "length-prefix" ? cell.send ?? "write" : null;
}

/** The cell that measured `row` (the inverse of what bench/client.ts does). */
export function cellOf(row: ResultRow): Cell {
  return {
    strategy: row.strategy,
    mode: row.mode,
    payload: row.payload,
    ...(row.receive === null ? {} : { receive: row.receive }),
    ...(row.sleep_ms === null ? {} : { sleepMs: row.sleep_ms }),
    ...(row.transport === "tcp" ? {} : { transport: row.transport }),
    ...(row.send === "write-with" ? { send: row.send } : {}),
  };
}

/** What identifies a row across rounds: everything but the figures. */
export function rowKey(row: ResultRow): string {
  return JSON.stringify([
    row.runtime,
    row.api,
    row.transport,
    row.strategy,
    row.mode,
    row.payload,
    row.receive,
    row.send,
    row.sleep_ms,
  ]);
}

/**
 * One row from the rounds of one cell, in the order they ran: the median of each figure, the
 * rounds' lowest and highest frames/s (`min`, `max`), `spread` = their range relative to the
 * median (mitata's interquartile spread when there was one round), peak RSS the highest.
 */
export function combineRounds(rounds: readonly ResultRow[]): ResultRow {
  const pick = (f: (r: ResultRow) => number | null) => {
    const xs = rounds.map(f).filter((x): x is number => x !== null);
    return xs.length ? median(xs) : null;
  };
  const fps = rounds.map((r) => r.frames_per_s);
  const middle = median(fps);
  const rss = rounds.map((r) => r.peak_rss_mb).filter((x): x is number => x !== null);
  return {
    ...rounds[0]!,
    frames_per_s: middle,
    min: Math.min(...rounds.map((r) => r.min)),
    max: Math.max(...rounds.map((r) => r.max)),
    mb_per_s: pick((r) => r.mb_per_s)!,
    rtt_p50_us: pick((r) => r.rtt_p50_us),
    rtt_p99_us: pick((r) => r.rtt_p99_us),
    peak_rss_mb: rss.length ? Math.max(...rss) : null,
    sticky_rate: pick((r) => r.sticky_rate),
    spread: rounds.length > 1 ? (Math.max(...fps) - Math.min(...fps)) / middle : rounds[0]!.spread,
    rounds: rounds.reduce((n, r) => n + r.rounds, 0),
    round_frames_per_s: rounds.flatMap((r) => r.round_frames_per_s),
    samples: rounds.reduce((n, r) => n + r.samples, 0),
  };
}

export function formatBytes(bytes: number): string {
  if (bytes >= 1024 * 1024 && bytes % (1024 * 1024) === 0) return `${bytes / 1024 / 1024} MiB`;
  if (bytes >= 1024 && bytes % 1024 === 0) return `${bytes / 1024} KiB`;
  return `${bytes} B`;
}

/** mitata's per-iteration statistics, in nanoseconds. */
export interface IterationStats {
  p25: number;
  p50: number;
  p75: number;
  p99: number;
  avg: number;
  samples: number;
}

/**
 * Turns per-iteration times into the report's figures. A stream iteration moves
 * `framesPerIteration` frames (throughput from the mean iteration time); a ping-pong iteration is
 * one round trip of one frame (frames/s from the median).
 */
export function figures(
  cell: Cell,
  stats: IterationStats,
  framesPerIteration: number,
): Pick<
  ResultRow,
  | "frames_per_s"
  | "min"
  | "max"
  | "round_frames_per_s"
  | "mb_per_s"
  | "rtt_p50_us"
  | "rtt_p99_us"
  | "spread"
  | "samples"
> {
  // Streams keep two batches in flight, so single iterations are bimodal (the ack was already
  // there, or not): the mean iteration time is the steady-state time per batch. Round trips use
  // the median.
  const seconds = (cell.mode === "stream" ? stats.avg : stats.p50) / 1e9;
  const framesPerS = framesPerIteration / seconds;
  return {
    frames_per_s: framesPerS,
    // One round so far: bench/run.ts widens them over the rounds (combineRounds).
    min: framesPerS,
    max: framesPerS,
    round_frames_per_s: [framesPerS],
    mb_per_s: (framesPerS * cell.payload) / 1e6,
    rtt_p50_us: cell.mode === "ping-pong" ? stats.p50 / 1e3 : null,
    rtt_p99_us: cell.mode === "ping-pong" ? stats.p99 / 1e3 : null,
    // The interquartile range relative to the median: 0.05 means the middle half of the samples
    // lie within ±2.5 % of the median.
    spread: stats.p50 > 0 ? (stats.p75 - stats.p25) / stats.p50 : 0,
    samples: stats.samples,
  };
}

/**
 * Fills `ratio_to_raw`, `ratio_min` and `ratio_max` in place. Stream rows (and sleep rows) compare
 * frames/s with the raw stream of the same runtime, API, transport and payload (higher is better,
 * 1.0 = as fast as raw). Ping-pong rows (and ack-handshake rows) compare p50 round-trip time with
 * raw ping-pong (lower is better, 1.0 = no added latency).
 *
 * `ratio_to_raw` is the ratio of the two medians. `ratio_min` and `ratio_max` bound it with the
 * per-round ratios: round i of a row against round i of its raw row (`rounds`, keyed by
 * {@linkcode rowKey}, in the order they ran). Rounds interleave the cells, so round i of both ran
 * close in time and a burst of noise on the machine weighs on both: a per-round ratio is steadier
 * than either figure. A row without its rounds counts as its own single round.
 */
export function addRatios(
  rows: ResultRow[],
  rounds: ReadonlyMap<string, readonly ResultRow[]> = new Map(),
): void {
  const key = (r: ResultRow, mode: Mode) =>
    `${r.runtime}|${r.api}|${r.transport}|${mode}|${r.payload}`;
  const raw = new Map<string, ResultRow>();
  for (const r of rows) if (r.strategy === "raw") raw.set(key(r, r.mode), r);
  const ratio = (a: ResultRow, b: ResultRow): number | null => {
    if (a.mode === "ping-pong") {
      return a.rtt_p50_us !== null && b.rtt_p50_us ? a.rtt_p50_us / b.rtt_p50_us : null;
    }
    return b.frames_per_s > 0 ? a.frames_per_s / b.frames_per_s : null;
  };
  for (const r of rows) {
    const base = raw.get(key(r, r.mode));
    r.ratio_to_raw = base === undefined ? null : ratio(r, base);
    if (base === undefined || r.ratio_to_raw === null) {
      r.ratio_min = r.ratio_max = r.round_ratios = null;
      continue;
    }
    const mine = rounds.get(rowKey(r)) ?? [r];
    const theirs = rounds.get(rowKey(base)) ?? [base];
    const each = mine.slice(0, theirs.length).map((m, i) => ratio(m, theirs[i]!))
      .filter((x): x is number => x !== null);
    r.round_ratios = each;
    r.ratio_min = Math.min(r.ratio_to_raw, ...each);
    r.ratio_max = Math.max(r.ratio_to_raw, ...each);
  }
}

/** The median of a list of numbers (the mean of the middle two for an even count). */
export function median(values: readonly number[]): number {
  if (values.length === 0) return NaN;
  const sorted = [...values].sort((a, b) => a - b);
  const middle = sorted.length >> 1;
  return sorted.length % 2 === 1 ? sorted[middle]! : (sorted[middle - 1]! + sorted[middle]!) / 2;
}

const ROW_FIELDS: Record<
  keyof ResultRow,
  "number" | "string" | "number|null" | "string|null" | "number[]" | "number[]|null"
> = {
  runtime: "string",
  api: "string",
  transport: "string",
  strategy: "string",
  mode: "string",
  payload: "number",
  receive: "string|null",
  send: "string|null",
  sleep_ms: "number|null",
  frames_per_s: "number",
  min: "number",
  max: "number",
  mb_per_s: "number",
  rtt_p50_us: "number|null",
  rtt_p99_us: "number|null",
  peak_rss_mb: "number|null",
  ratio_to_raw: "number|null",
  ratio_min: "number|null",
  ratio_max: "number|null",
  sticky_rate: "number|null",
  spread: "number",
  rounds: "number",
  round_frames_per_s: "number[]",
  round_ratios: "number[]|null",
  samples: "number",
};

/** The JSON schema this code writes and checks. */
export const SCHEMA = "framed-bench/4";

/** The report's top level. */
export interface Report {
  schema: typeof SCHEMA;
  date: string;
  suite: "quick" | "full";
  /** What ran: "quick suite", or the filters of a filtered run ("quick suite, filtered: …"). */
  title: string;
  runtimes: Record<string, string>;
  machine: {
    cpu: string;
    cores: number;
    memory_gb: number;
    os: string;
    /** Whether the server ran on core 0 and the client on core 1 (`taskset`). */
    pinned: boolean;
  };
  results: ResultRow[];
  rss_checks: RssRow[];
  idle_checks: IdleRow[];
  codec_only: { name: string; payload: number; frames_per_s: number; mb_per_s: number }[];
  tls_sessions: TlsSession[];
  targets: Target[];
}

/** A row of `rss_checks`: the peak RSS of a fresh receiving process given `bytes` of frames. */
export interface RssRow {
  runtime: RuntimeName;
  api: SocketApi;
  /** `framed`: onFrame on serve(); `bare`: the raw hand-written receiver of bench/_raw.ts. */
  receiver: "framed" | "bare";
  bytes: number;
  peak_rss_mb: number;
}

/** How a target's figure compares with its threshold, all rounds considered. */
export type Verdict = "met" | "missed" | "within noise";

/** A row of `targets`. */
export interface Target {
  name: string;
  /** The figure judged: a ratio, frames/s, MiB or KiB. */
  value: number | null;
  /**
   * The range the verdict read: the rounds' lowest and highest figure, or with 4 rounds or more
   * the lowest and highest without the single extremes (null: measured once).
   */
  min: number | null;
  max: number | null;
  /** The rounds (or per-round ratios) the range was read from; null when measured once. */
  rounds: number | null;
  goal: string;
  /** Whether `value` (the median) meets the goal; null when it is not judged. */
  met: boolean | null;
  /** "within noise" when the rounds' range crosses the threshold; null when not judged. */
  verdict: Verdict | null;
}

/**
 * What one runtime × API negotiated on its raw TLS connections, as its own API reports it: null
 * where the API cannot say (Deno's TlsConn tells only the ALPN protocol).
 */
export interface TlsSession {
  runtime: RuntimeName;
  api: SocketApi;
  /** "TLSv1.3" */
  protocol: string | null;
  /** The IANA name where the runtime gives it ("TLS_AES_256_GCM_SHA384"), else its own name. */
  cipher: string | null;
}

/** Lists every way `report` breaks the documented schema; empty when it conforms. */
export function schemaProblems(report: unknown): string[] {
  const problems: string[] = [];
  const r = report as Partial<Report> | null;
  if (r === null || typeof r !== "object") return ["the report is not an object"];
  if (r.schema !== SCHEMA) problems.push(`schema must be ${SCHEMA}`);
  if (typeof r.title !== "string") problems.push("title must be a string");
  if (typeof r.runtimes !== "object" || r.runtimes === null) {
    problems.push("runtimes must map names to versions");
  } else {
    for (const [name, version] of Object.entries(r.runtimes)) {
      if (typeof version !== "string") problems.push(`runtimes.${name} must be a version string`);
    }
  }
  if (
    typeof r.machine?.cpu !== "string" || typeof r.machine?.cores !== "number" ||
    typeof r.machine?.pinned !== "boolean"
  ) {
    problems.push("machine must have cpu (string), cores (number) and pinned (boolean)");
  }
  if (!Array.isArray(r.results)) return [...problems, "results must be an array"];
  r.results.forEach((row, i) => {
    for (const [field, type] of Object.entries(ROW_FIELDS)) {
      const value = (row as unknown as Record<string, unknown>)[field];
      const finite = (x: unknown) => typeof x === "number" && Number.isFinite(x);
      const kind = value === null ? "null" : Array.isArray(value) ? "number[]" : typeof value;
      const ok = type.split("|").includes(kind) &&
        (!Array.isArray(value) || (value.length > 0 && value.every(finite)));
      if (!ok || (typeof value === "number" && !finite(value))) {
        problems.push(`results[${i}].${field} must be ${type}, got ${JSON.stringify(value)}`);
      }
    }
    if (!["stream", "ping-pong"].includes(row.mode)) {
      problems.push(`results[${i}].mode is ${row.mode}`);
    }
    if (!ALL_TRANSPORTS.includes(row.transport)) {
      problems.push(`results[${i}].transport is ${row.transport}`);
    }
    if (![null, "write", "write-with"].includes(row.send)) {
      problems.push(`results[${i}].send is ${row.send}`);
    }
    if (row.min > row.frames_per_s || row.max < row.frames_per_s) {
      problems.push(`results[${i}]: frames_per_s must lie within min and max`);
    }
    if (
      row.ratio_to_raw !== null && row.ratio_min !== null && row.ratio_max !== null &&
      (row.ratio_min > row.ratio_to_raw || row.ratio_max < row.ratio_to_raw)
    ) {
      problems.push(`results[${i}]: ratio_to_raw must lie within ratio_min and ratio_max`);
    }
  });
  if (!Array.isArray(r.rss_checks)) return [...problems, "rss_checks must be an array"];
  r.rss_checks.forEach((row, i) => {
    if (!["framed", "bare"].includes(row?.receiver)) {
      problems.push(`rss_checks[${i}].receiver is ${row?.receiver}`);
    }
    if (typeof row?.peak_rss_mb !== "number" || !Number.isFinite(row.peak_rss_mb)) {
      problems.push(`rss_checks[${i}].peak_rss_mb must be a number`);
    }
  });
  if (!Array.isArray(r.targets)) return [...problems, "targets must be an array"];
  r.targets.forEach((t, i) => {
    if (![null, "met", "missed", "within noise"].includes(t?.verdict)) {
      problems.push(`targets[${i}].verdict is ${JSON.stringify(t?.verdict)}`);
    }
    if (t?.rounds !== null && !(typeof t?.rounds === "number" && t.rounds >= 0)) {
      problems.push(`targets[${i}].rounds must be number|null`);
    }
    if (t?.verdict !== null && typeof t?.met !== "boolean") {
      problems.push(`targets[${i}] has a verdict but met is not a boolean`);
    }
  });
  if (!Array.isArray(r.tls_sessions)) return [...problems, "tls_sessions must be an array"];
  r.tls_sessions.forEach((session, i) => {
    for (const field of ["protocol", "cipher"] as const) {
      const value = session?.[field];
      if (value !== null && typeof value !== "string") {
        problems.push(
          `tls_sessions[${i}].${field} must be string|null, got ${JSON.stringify(value)}`,
        );
      }
    }
  });
  if (!Array.isArray(r.idle_checks)) return [...problems, "idle_checks must be an array"];
  r.idle_checks.forEach((row, i) => {
    for (const [field, type] of Object.entries(IDLE_FIELDS)) {
      const value = (row as unknown as Record<string, unknown>)[field];
      const kind = value === null ? "null" : typeof value;
      if (
        !type.split("|").includes(kind) || (typeof value === "number" && !Number.isFinite(value))
      ) {
        problems.push(`idle_checks[${i}].${field} must be ${type}, got ${JSON.stringify(value)}`);
      }
    }
    if (!["framed", "bare"].includes(row.echo)) {
      problems.push(`idle_checks[${i}].echo is ${row.echo}`);
    }
    if (row.held > row.connections) {
      problems.push(`idle_checks[${i}] holds more connections than it opened`);
    }
  });
  return problems;
}

/** Idle connections held per runtime × API and echo server. */
export const IDLE_CONNECTIONS = { quick: 2000, full: 10_000 } as const;

/** The idle-connection goal: what one quiet connection may cost the server. */
export const IDLE_GOAL_KIB = 16;

/** A row of `idle_checks` in the JSON report. Documented in bench/README.md. */
export interface IdleRow {
  runtime: RuntimeName;
  api: SocketApi;
  /** `framed`: `cli.ts echo`'s handler on serve(); `bare`: the runtime's documented echo server. */
  echo: "framed" | "bare";
  /** Connections asked for. */
  connections: number;
  /** Connections open and echoed when the server's memory was measured. */
  held: number;
  /** Connections that failed to open or to echo (0 when the server keeps up). */
  failed: number;
  /** Server RSS growth while holding them, divided by `held`, in KiB. */
  kib_per_conn: number | null;
  /**
   * The RSS growth of the second half of the connections alone, per connection (null when some
   * were lost): what one more costs, without the runtime's one-time costs that `kib_per_conn`
   * spreads over N.
   */
  kib_marginal: number | null;
  /** Connections opened and echoed per second, at most 128 at a time. */
  accept_per_s: number | null;
  /** Whether a full GC ran before both measures (V8 --expose-gc, Bun.gc). */
  gc_forced: boolean;
  /** How long the server was left alone before each measure. */
  settle_ms: number;
  /** framed rows: `kib_per_conn` minus the bare row's (same runtime and API): framed's own cost. */
  kib_over_bare: number | null;
}

const IDLE_FIELDS: Record<keyof IdleRow, "number" | "string" | "boolean" | "number|null"> = {
  runtime: "string",
  api: "string",
  echo: "string",
  connections: "number",
  held: "number",
  failed: "number",
  kib_per_conn: "number|null",
  kib_marginal: "number|null",
  accept_per_s: "number|null",
  gc_forced: "boolean",
  settle_ms: "number",
  kib_over_bare: "number|null",
};

/**
 * Fills `kib_over_bare` in place: each framed row's KiB per connection minus the bare echo's, same
 * runtime and API. A difference, not a ratio: the bare figure can be near zero (Bun: about 2 KiB).
 */
export function addIdleBaselines(rows: IdleRow[]): void {
  const bare = new Map<string, IdleRow>();
  for (const r of rows) if (r.echo === "bare") bare.set(`${r.runtime}|${r.api}`, r);
  for (const r of rows) {
    const base = bare.get(`${r.runtime}|${r.api}`)?.kib_per_conn ?? null;
    r.kib_over_bare = r.echo === "framed" && base !== null && r.kib_per_conn !== null
      ? r.kib_per_conn - base
      : null;
  }
}
