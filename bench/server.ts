// The receiving side of every benchmark cell, in its own process. Started by bench/run.ts as
//   <runtime> bench/server.ts --api native|node [--transports tcp,tls,unix]
//                             [--tls-dir DIR] [--unix-dir DIR]
// It listens, for each transport, with a raw hand-written loop and with framed's serve(), and
// prints `listening {"control":P,"raw":{...},"framed":{...}}` (each an Endpoint per transport).
// Then it serves cells one at a time: the client announces each cell on the control connection
// (TCP), runs it on the raw or framed endpoint of the cell's transport, and asks for the report
// (peak RSS of this process during the cell, messages and sticky reads). TLS uses ca.pem,
// cert.pem and key.pem from --tls-dir; unix sockets are made in --unix-dir, named by this process.

import { join } from "node:path";
import process from "node:process";
import { parseArgs } from "node:util";
import {
  AckReceiver,
  detectRuntime,
  type FramedConn,
  lengthPrefix,
  sendAll,
  serve,
  type SocketApi,
} from "../mod.ts";
import { type Endpoint, type RawConn, rawListen, readTlsPems } from "./_raw.ts";
import type { Cell, Transport } from "./_cells.ts";
import { framesPerBatch } from "./_cells.ts";

const { values } = parseArgs({
  options: {
    api: { type: "string", default: "native" },
    transports: { type: "string", default: "tcp" },
    "tls-dir": { type: "string" },
    "unix-dir": { type: "string" },
  },
});
const api = values.api as SocketApi;
const transports = values.transports!.split(",") as Transport[];
const pems = values["tls-dir"] === undefined ? undefined : readTlsPems(values["tls-dir"]);
if (transports.includes("tls") && pems === undefined) throw new Error("TLS needs --tls-dir");
if (transports.includes("unix") && values["unix-dir"] === undefined) {
  throw new Error("unix sockets need --unix-dir");
}
const socketPath = (name: string) => join(values["unix-dir"]!, `${process.pid}-${name}.sock`);
const runtime = detectRuntime();
const MAX_FRAME = 64 * 1024 * 1024;
const ACK_BYTE = new Uint8Array([1]);
const REPLY_CODEC = lengthPrefix({ maxFrameLength: MAX_FRAME });

let cell: Cell | null = null;
let peakRss = 0;
let messages = 0;
let reads = 0;
let cleanReads = 0;
let bytes = 0;
const sampler = setInterval(() => (peakRss = Math.max(peakRss, process.memoryUsage().rss)), 10);

function startCell(next: Cell): void {
  cell = next;
  peakRss = process.memoryUsage().rss;
  messages =
    reads =
    cleanReads =
    bytes =
      0;
}

// ── Raw cells: hand-written loops on the runtime's own API ───────────────────────────────────

function rawConnection(conn: RawConn): void {
  const current = cell!;
  if (current.mode === "ping-pong") {
    // Echo every chunk back as it comes; the client waits for `payload` bytes.
    conn.onData((chunk) => void conn.write(chunk.slice()));
  } else if (current.strategy === "sleep") {
    // Read without framing and count how many reads were exactly one message.
    conn.onData((chunk) => {
      reads++;
      if (chunk.length === current.payload && bytes % current.payload === 0) cleanReads++;
      bytes += chunk.length;
      messages = Math.floor(bytes / current.payload);
    });
  } else {
    const batch = framesPerBatch(current.payload) * current.payload;
    let acked = 0;
    conn.onData((chunk) => {
      bytes += chunk.length;
      const due = Math.floor(bytes / batch) - acked;
      if (due > 0) {
        acked += due;
        void conn.write(new Uint8Array(due).fill(1));
      }
    });
  }
}

// ── Framed cells: the public API, as users write it ──────────────────────────────────────────

async function framedCell(conn: FramedConn<Uint8Array>): Promise<void> {
  const current = cell!;
  if (current.strategy === "ack-handshake") {
    // AckReceiver answers the length with the ACK; the result is the server's own to send, as in
    // the seed's programs: here the payload back as one length-prefixed frame, the same reply the
    // length-prefix request/reply cells get (the client waits for all of it).
    const stream = conn.stream;
    const receiver = new AckReceiver({ maxFrameLength: MAX_FRAME });
    await new Promise<void>((resolve) => {
      stream.start({
        data(chunk) {
          const results: Uint8Array[] = [];
          receiver.push(chunk, (payload) => {
            messages++;
            results.push(REPLY_CODEC.encode(payload)); // a copy: `payload` may view `chunk`
          });
          const acks = receiver.takeReply();
          if (acks !== null) void sendAll(stream, acks);
          for (const result of results) void sendAll(stream, result);
          return false;
        },
        end: resolve,
        error: resolve,
      });
    });
    return;
  }
  if (current.mode === "ping-pong") {
    // Not borrowed: write() may keep a reference to a large frame until it is flushed.
    await conn.onFrame((frame) => conn.write(frame));
    return;
  }
  const perBatch = framesPerBatch(current.payload);
  let frames = 0;
  const ack = () => {
    if (++frames % perBatch === 0) conn.write(ACK_BYTE);
  };
  if (current.receive === "for-await") {
    for await (const _frame of conn) ack();
  } else if (current.receive === "stream") {
    await conn.readable.pipeTo(new WritableStream({ write: ack }));
  } else {
    await conn.onFrame(ack, { borrow: true });
  }
  messages = frames;
}

// One raw and one framed listener per transport.
const raws: Partial<Record<Transport, Endpoint>> = {};
const frameds: Partial<Record<Transport, Endpoint>> = {};
const closers: (() => unknown)[] = [];
for (const transport of transports) {
  const raw = await rawListen(runtime, api, {
    transport,
    ...(transport === "unix" ? { path: socketPath("raw") } : {}),
    tls: pems,
  }, rawConnection);
  raws[transport] = raw.endpoint;
  const handling = {
    api,
    codec: lengthPrefix({ maxFrameLength: MAX_FRAME }),
    handler: framedCell,
    onError: () => {}, // the client closes mid-cell when it has measured enough
  };
  const framed = transport === "unix"
    ? await serve({ ...handling, path: socketPath("framed") })
    : await serve({
      ...handling,
      ...(transport === "tls" ? { tls: { cert: pems!.cert, key: pems!.key } } : {}),
    });
  const address = framed.address;
  frameds[transport] = address.transport === "unix"
    ? { transport: "unix", path: address.path }
    : { transport: transport as "tcp" | "tls", port: address.port };
  closers.push(() => raw.close(), () => framed.shutdown());
}

// ── Control: one JSON message per frame ──────────────────────────────────────────────────────

const control = await serve({
  api,
  handler: async (conn) => {
    for await (const frame of conn) {
      const request = JSON.parse(new TextDecoder().decode(frame));
      let reply: unknown = { ok: true };
      if (request.op === "cell") startCell(request.cell);
      else if (request.op === "report") {
        reply = {
          peak_rss_mb: Math.max(peakRss, process.memoryUsage().rss) / 2 ** 20,
          messages,
          reads,
          clean_reads: cleanReads,
          bytes,
        };
      } else if (request.op === "quit") {
        await conn.writeFrame(new TextEncoder().encode(JSON.stringify(reply)));
        clearInterval(sampler);
        for (const close of closers) void close();
        void control.shutdown();
        setTimeout(() => process.exit(0), 100);
        return;
      }
      await conn.writeFrame(new TextEncoder().encode(JSON.stringify(reply)));
    }
  },
});

console.log(
  `listening ${JSON.stringify({ control: control.address.port, raw: raws, framed: frameds })}`,
);
