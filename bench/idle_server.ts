// The server side of the idle-connection check, in its own process. Started by bench/_idle.ts as
//   <runtime> bench/idle_server.ts --api native|node --echo framed|bare
// It prints `listening port=P`, then answers one command per stdin line: `measure` prints
// `rss bytes=N gc=true|false` after a full garbage collection (when the runtime lets us force one),
// `quit` (or the end of stdin) exits. The harness measures with none, half and all of the
// connections open and divides the RSS growth by the connections held.

import * as net from "node:net";
import process from "node:process";
import { createInterface } from "node:readline";
import { parseArgs } from "node:util";
import { detectRuntime, lengthPrefix, serve, type SocketApi } from "../mod.ts";

const { values } = parseArgs({
  options: {
    api: { type: "string", default: "native" },
    echo: { type: "string", default: "framed" },
  },
});
const api = values.api as SocketApi;
const runtime = detectRuntime();

/**
 * The least each runtime needs to echo, with no framed code in the path: the baseline every framed
 * figure is compared with. node:net and Bun: the echo servers their docs show. Deno: a read loop
 * into a 1 KiB buffer, because the one its manual shows (`conn.readable.pipeTo(conn.writable)`)
 * parks a 64 KiB chunk on every idle connection (measured: about 80 KiB each), which would hide
 * what the socket itself costs.
 */
async function bareEcho(): Promise<number> {
  if (api === "node" || runtime === "node") {
    const server = net.createServer((socket) => {
      socket.on("error", () => {});
      socket.pipe(socket);
    });
    await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
    return (server.address() as net.AddressInfo).port;
  }
  if (runtime === "deno") {
    const listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
    const echo = async (conn: Deno.Conn) => {
      const buffer = new Uint8Array(1024);
      try {
        for (let n = await conn.read(buffer); n !== null; n = await conn.read(buffer)) {
          for (let at = 0; at < n;) at += await conn.write(buffer.subarray(at, n));
        }
      } catch {
        // The client reset the connection: the check is over.
      }
      conn.close();
    };
    void (async () => {
      for await (const conn of listener) void echo(conn);
    })();
    return listener.addr.port;
  }
  // Bun's docs: write back every chunk from the `data` callback.
  // deno-lint-ignore no-explicit-any
  const bun = (globalThis as any).Bun;
  const server = bun.listen({
    hostname: "127.0.0.1",
    port: 0,
    socket: {
      data: (socket: { write(b: Uint8Array): number }, chunk: Uint8Array) => socket.write(chunk),
      error: () => {},
    },
  });
  return server.port;
}

/** `cli.ts echo --framing length`: the same handler, on the same public API. */
async function framedEcho(): Promise<number> {
  const server = await serve({
    api,
    codec: lengthPrefix(),
    handler: async (conn) => {
      for await (const frame of conn) {
        if (!conn.write(frame)) await conn.flush();
      }
    },
    onError: () => {}, // the client resets its connections at the end
  });
  return server.address.port;
}

/**
 * A full, memory-reducing collection where the runtime allows one: what V8's memory reducer does
 * to a process that has gone quiet, as a server of idle connections has. Deno: V8's `last-resort`
 * flavour, which also shrinks the young generation and compacts fragmented pages (without it, heap
 * pages V8 grew while accepting, a one-time cost, would be spread over the connections). Node 20:
 * a plain full `gc()` (its V8 runs a lesser collection when given options: WeakRefs survive it).
 * Bun: `Bun.gc(true)`.
 */
function collectGarbage(): boolean {
  const g = globalThis as { gc?: (options?: unknown) => void; Bun?: { gc(force: boolean): void } };
  if (g.Bun !== undefined) g.Bun.gc(true);
  else if (typeof g.gc !== "function") return false;
  else if (runtime === "deno") g.gc({ type: "major", execution: "sync", flavor: "last-resort" });
  else g.gc();
  return true;
}

async function measure(): Promise<string> {
  let forced = collectGarbage();
  await new Promise((resolve) => setTimeout(resolve, 50));
  forced = collectGarbage() && forced;
  await new Promise((resolve) => setTimeout(resolve, 50));
  return `rss bytes=${process.memoryUsage().rss} gc=${forced}`;
}

const port = values.echo === "bare" ? await bareEcho() : await framedEcho();
console.log(`listening port=${port}`);
const lines = createInterface({ input: process.stdin });
lines.on("line", async (line) => {
  if (line === "measure") console.log(await measure());
  else if (line === "quit") process.exit(0);
});
lines.on("close", () => process.exit(0));
