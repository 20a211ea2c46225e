// The sending side of the benchmark, in its own process: runs every cell it is given against a
// bench/server.ts of the same runtime and API, timing iterations with mitata's `measure`.
//   <runtime> bench/client.ts --api native|node --endpoints JSON --cells JSON --time MS
//                             [--tls-dir DIR]
// --endpoints is what the server printed after `listening`. Prints one JSON line per event on
// stdout: {"type":"start",...}, {"type":"result",...}, {"type":"rss",...} and, after the first raw
// TLS connection, {"type":"tls","protocol":...,"cipher":...}.

import process from "node:process";
import { parseArgs } from "node:util";
import { do_not_optimize, measure } from "mitata";
import {
  AckSender,
  connect,
  connectStream,
  detectRuntime,
  type FramedConn,
  lengthPrefix,
  sendAll,
  type SocketApi,
} from "../mod.ts";
import { type Endpoint, rawConnect, readTlsPems } from "./_raw.ts";
import {
  type Cell,
  figures,
  framesPerBatch,
  type IterationStats,
  type ResultRow,
  sendOf,
  type Transport,
} from "./_cells.ts";

const { values } = parseArgs({
  options: {
    api: { type: "string", default: "native" },
    endpoints: { type: "string" },
    cells: { type: "string" },
    time: { type: "string", default: "300" },
    messages: { type: "string", default: "100" },
    "tls-dir": { type: "string" },
  },
});
const api = values.api as SocketApi;
const endpoints: {
  control: number;
  raw: Partial<Record<Transport, Endpoint>>;
  framed: Partial<Record<Transport, Endpoint>>;
} = JSON.parse(values.endpoints!);
const pems = values["tls-dir"] === undefined ? undefined : readTlsPems(values["tls-dir"]);
const cells: Cell[] = JSON.parse(values.cells!);
const runtime = detectRuntime();
const codec = lengthPrefix({ maxFrameLength: 64 * 1024 * 1024 });
const minCpuTime = Number(values.time) * 1e6;

const emit = (event: unknown) => console.log(JSON.stringify(event));

/** A promise that a callback elsewhere settles: how iterations wait for the server. */
function signal(): { wait(): Promise<void>; fire(): void } {
  let resolve: (() => void) | null = null;
  let pending = 0;
  return {
    wait: () => {
      if (pending > 0) {
        pending--;
        return Promise.resolve();
      }
      return new Promise<void>((r) => (resolve = r));
    },
    fire: () => {
      if (resolve === null) pending++;
      else {
        const r = resolve;
        resolve = null;
        r();
      }
    },
  };
}

/** Where the server listens for `cell`, raw or framed. */
function endpoint(cell: Cell, side: "raw" | "framed"): Endpoint {
  const transport = cell.transport ?? "tcp";
  const found = endpoints[side][transport];
  if (found === undefined) throw new Error(`the server does not listen ${side} over ${transport}`);
  return found;
}

/** connect()'s options for the framed endpoint of `cell`: a port, a port with TLS, or a path. */
function framedTarget(cell: Cell): { port: number; tls?: { ca: string } } | { path: string } {
  const where = endpoint(cell, "framed");
  if (where.transport === "unix") return { path: where.path };
  if (where.transport === "tls") return { port: where.port, tls: { ca: pems!.ca } };
  return { port: where.port };
}

let tlsReported = false;

async function connectRaw(cell: Cell) {
  const conn = await rawConnect(runtime, api, endpoint(cell, "raw"), pems);
  if (conn.session !== undefined && !tlsReported) {
    tlsReported = true;
    emit({ type: "tls", ...conn.session });
  }
  return conn;
}

const controlConn = await connect({ api, port: endpoints.control });
async function control(request: unknown): Promise<Record<string, number>> {
  await controlConn.writeFrame(new TextEncoder().encode(JSON.stringify(request)));
  return JSON.parse(new TextDecoder().decode((await controlConn.readFrame())!));
}

async function time(iteration: () => Promise<void>): Promise<IterationStats> {
  // mitata warms up first, then samples until min_cpu_time has passed. Every iteration is timed on
  // its own (batch_threshold 0): by default mitata times iterations under 65 µs (a loopback round
  // trip) in batches of 4,096, at least 12 of them, which took 2 to 3 s per request/reply cell and
  // made p50 and p99 figures of batch means, not of round trips. The clock reads to well under a
  // microsecond in all three runtimes (Bun.nanoseconds, performance.now).
  const stats = await measure(iteration, {
    min_cpu_time: minCpuTime,
    max_samples: 100_000,
    batch_threshold: 0,
  });
  return { ...stats, samples: stats.samples.length };
}

/**
 * Times a stream with two batches in flight: each iteration sends a batch and waits for the
 * acknowledgement of the one before, so the sender fills the pipe while the receiver drains it
 * (steady-state throughput, not a stop-and-wait). Raw and framed cells use it alike.
 */
async function pipelined(
  sendBatch: () => unknown,
  acked: { wait(): Promise<void> },
): Promise<IterationStats> {
  await sendBatch();
  const stats = await time(async () => {
    await sendBatch();
    await acked.wait();
  });
  await acked.wait();
  return stats;
}

function payloadOf(size: number): Uint8Array {
  return Uint8Array.from({ length: size }, (_, i) => i & 0xff);
}

async function rawCell(cell: Cell): Promise<[IterationStats, number]> {
  const conn = await connectRaw(cell);
  try {
    if (cell.mode === "ping-pong") {
      const message = payloadOf(cell.payload);
      const echoed = signal();
      let received = 0;
      conn.onData((chunk) => {
        received += chunk.length;
        while (received >= cell.payload) {
          received -= cell.payload;
          echoed.fire();
        }
      });
      return [
        await time(async () => {
          await conn.write(message);
          await echoed.wait();
        }),
        1,
      ];
    }
    const perBatch = framesPerBatch(cell.payload);
    const batch = payloadOf(perBatch * cell.payload);
    const acked = signal();
    conn.onData((chunk) => {
      for (let i = 0; i < chunk.length; i++) acked.fire();
    });
    return [await pipelined(() => conn.write(batch), acked), perBatch];
  } finally {
    conn.close();
  }
}

async function framedCell(cell: Cell): Promise<[IterationStats, number]> {
  const conn: FramedConn<Uint8Array> = await connect({ api, ...framedTarget(cell), codec });
  try {
    const frame = payloadOf(cell.payload);
    const replied = signal();
    const receiving = conn.onFrame((reply) => {
      do_not_optimize(reply);
      replied.fire();
    }, { borrow: true });
    receiving.catch(() => {});
    if (cell.mode === "ping-pong") {
      return [
        await time(async () => {
          conn.write(frame);
          await replied.wait();
        }),
        1,
      ];
    }
    const perBatch = framesPerBatch(cell.payload);
    // One write() per frame, as users write it; the library corks them. writeWith: the body is
    // written into the outgoing buffer after its header, as a producer that builds it would
    // (body.set stands for that producer's own work: here it copies the same bytes write() gets).
    const fill = (body: Uint8Array) => body.set(frame);
    const sendBatch = cell.send === "write-with"
      ? () => {
        for (let i = 0; i < perBatch; i++) conn.writeWith(cell.payload, fill);
      }
      : () => {
        for (let i = 0; i < perBatch; i++) conn.write(frame);
      };
    return [await pipelined(sendBatch, replied), perBatch];
  } finally {
    conn.close();
  }
}

/**
 * The ack handshake as the seed's programs use it, request/reply: announce the length, wait for
 * the server's ACK, send the payload, wait for the server's reply (a length-prefixed frame of the
 * same size, as the length-prefix echo sends back). Two round trips per message.
 */
async function ackCell(cell: Cell): Promise<[IterationStats, number]> {
  const stream = await connectStream({ api, ...framedTarget(cell) });
  const sender = new AckSender({ maxFrameLength: 64 * 1024 * 1024 });
  const acked = signal();
  const replied = signal();
  const replyBytes = 4 + cell.payload;
  let awaitingAck = false;
  let ack = new Uint8Array(1);
  let received = 0;
  stream.start({
    data(chunk) {
      let at = 0;
      if (awaitingAck && chunk.length > 0) {
        awaitingAck = false;
        ack = chunk.slice(0, 1);
        at = 1;
        acked.fire();
      }
      received += chunk.length - at;
      while (received >= replyBytes) {
        received -= replyBytes;
        replied.fire();
      }
      return false;
    },
    end() {},
    error() {},
  });
  const message = payloadOf(cell.payload);
  try {
    return [
      await time(async () => {
        awaitingAck = true;
        await sendAll(stream, sender.announce(message));
        await acked.wait();
        await sendAll(stream, sender.receive(ack)!);
        await replied.wait();
      }),
      1,
    ];
  } finally {
    stream.close();
  }
}

async function sleepCell(cell: Cell): Promise<[IterationStats, number, number]> {
  const conn = await connectRaw(cell);
  const count = Number(values.messages);
  const message = payloadOf(cell.payload);
  const start = performance.now();
  for (let i = 0; i < count; i++) {
    await conn.write(message);
    // sleep 0 means no sleep at all: back-to-back sends, the case sleeping tries to avoid.
    if (cell.sleepMs! > 0) await new Promise((resolve) => setTimeout(resolve, cell.sleepMs));
  }
  const seconds = (performance.now() - start) / 1000;
  // Let the server read everything before asking it how the reads were cut.
  const deadline = Date.now() + 10_000;
  let report = await control({ op: "report" });
  while (report.bytes! < count * cell.payload && Date.now() < deadline) {
    await new Promise((resolve) => setTimeout(resolve, 20));
    report = await control({ op: "report" });
  }
  conn.close();
  const perMessageNs = (seconds * 1e9) / count;
  const stats = {
    p25: perMessageNs,
    p50: perMessageNs,
    p75: perMessageNs,
    p99: perMessageNs,
    avg: perMessageNs,
    samples: count,
  };
  const sticky = 1 - report.clean_reads! / count;
  return [stats, 1, sticky];
}

/**
 * Sends `cell.volume` bytes (rounded up to whole batches) through the raw hand-written loop, one
 * batch at a time, to the raw receiver: the bare figure beside framed's peak RSS.
 */
async function rawVolumeCell(cell: Cell): Promise<void> {
  const conn = await connectRaw(cell);
  const perBatch = framesPerBatch(cell.payload);
  const batches = Math.ceil(cell.volume! / (cell.payload * perBatch));
  const batch = payloadOf(perBatch * cell.payload);
  let acks = 0;
  const done = signal();
  conn.onData((chunk) => {
    const before = acks;
    acks += chunk.length;
    if (before < batches && acks >= batches) done.fire();
  });
  for (let i = 0; i < batches; i++) await conn.write(batch);
  await done.wait();
  conn.close();
}

/** Sends exactly `cell.volume` bytes as frames, as fast as backpressure allows. */
async function volumeCell(cell: Cell): Promise<void> {
  const conn: FramedConn<Uint8Array> = await connect({ api, ...framedTarget(cell), codec });
  const perBatch = framesPerBatch(cell.payload);
  const batches = Math.ceil(cell.volume! / (cell.payload * perBatch));
  let acks = 0;
  const done = signal();
  const receiving = conn.onFrame(() => {
    if (++acks === batches) done.fire();
  }, { borrow: true });
  receiving.catch(() => {});
  const frame = payloadOf(cell.payload);
  for (let i = 0; i < batches * perBatch; i++) {
    if (!conn.write(frame)) await conn.flush();
  }
  await conn.flush();
  await done.wait();
  conn.close();
}

for (const [index, cell] of cells.entries()) {
  emit({ type: "start", index });
  await control({ op: "cell", cell });
  if (cell.volume !== undefined) {
    const bare = cell.strategy === "raw";
    await (bare ? rawVolumeCell(cell) : volumeCell(cell));
    const report = await control({ op: "report" });
    emit({
      type: "rss",
      index,
      receiver: bare ? "bare" : "framed",
      bytes: cell.volume,
      peak_rss_mb: report.peak_rss_mb,
    });
    continue;
  }
  let stats: IterationStats;
  let perIteration: number;
  let sticky: number | null = null;
  if (cell.strategy === "raw") [stats, perIteration] = await rawCell(cell);
  else if (cell.strategy === "length-prefix") [stats, perIteration] = await framedCell(cell);
  else if (cell.strategy === "ack-handshake") [stats, perIteration] = await ackCell(cell);
  else [stats, perIteration, sticky] = await sleepCell(cell);
  const report = await control({ op: "report" });
  const row: ResultRow = {
    runtime,
    api,
    transport: cell.transport ?? "tcp",
    strategy: cell.strategy,
    mode: cell.mode,
    payload: cell.payload,
    receive: cell.receive ?? null,
    send: sendOf(cell),
    sleep_ms: cell.sleepMs ?? null,
    ...figures(cell, stats, perIteration),
    peak_rss_mb: report.peak_rss_mb!,
    ratio_to_raw: null,
    ratio_min: null,
    ratio_max: null,
    sticky_rate: sticky,
    rounds: 1,
    round_ratios: null,
  };
  emit({ type: "result", index, row });
}
await control({ op: "quit" });
controlConn.close();
process.exit(0);
