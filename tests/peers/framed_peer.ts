// The other runtime's end of the cross-runtime tests: a framed echo server or a pipelining client
// on the native sockets of whichever runtime runs this file (Deno or Bun), over TLS or a unix
// socket.
//
//   framed_peer.ts server tls CERTFILE KEYFILE ALPN   prints "listening on ADDRESS", echoes every
//   framed_peer.ts server unix PATH                   frame; after each connection prints
//                                                     "conn alpn=NAME frames=N"; on SIGTERM shuts
//                                                     down, prints "served N", exits 0
//   framed_peer.ts client tls PORT CAFILE ALPN COUNT  pipelines COUNT frames, checks every echo;
//   framed_peer.ts client unix PATH COUNT             prints "alpn=NAME" (TLS) and "ok COUNT"
//
// Every run is bounded: a server exits by itself after 120 s, a client fails after 60 s.

import { readFileSync } from "node:fs";
import process from "node:process";
import {
  type Address,
  connect,
  type ConnectOptions,
  type FramedConn,
  serve,
  type Server,
} from "../../mod.ts";
import { pattern, sameBytes, seededRandom } from "../_helpers.ts";

const [role, transport, ...args] = process.argv.slice(2);

/** Frame sizes from 0 to 64 KiB: empty, one byte, many small, a few large. */
function frames(count: number): Uint8Array[] {
  const random = seededRandom(20261212);
  return Array.from({ length: count }, (_, i) => {
    const size = i === 0 ? 0 : i % 50 === 1 ? 65_536 : Math.floor(random() * 2000);
    return pattern(size, i);
  });
}

async function runServer(): Promise<void> {
  let served = 0;
  const handling = {
    handler: async (conn: FramedConn<Uint8Array>) => {
      let count = 0;
      for await (const frame of conn) {
        count++;
        if (!conn.write(frame)) await conn.flush();
      }
      served += count;
      console.log(`conn alpn=${conn.tls?.alpnProtocol ?? "none"} frames=${count}`);
    },
    onError: (error: unknown) => console.error(`peer server: ${error}`),
  };
  const server: Server<Address> = transport === "tls"
    ? await serve({
      port: 0,
      tls: {
        cert: readFileSync(args[0]!, "utf8"),
        key: readFileSync(args[1]!, "utf8"),
        alpn: [args[2]!],
      },
      ...handling,
    })
    : await serve({ path: args[0]!, ...handling });
  console.log(`listening on ${server.address}`);
  const stop = async () => {
    // The bound stays until shutdown has finished: a shutdown that hangs still ends the process.
    await server.shutdown();
    clearTimeout(bound);
    console.log(`served ${served}`);
    process.exit(0);
  };
  const bound = setTimeout(() => {
    console.error("peer server: still running after 120 s");
    process.exit(3);
  }, 120_000);
  process.on("SIGTERM", () => void stop());
}

async function runClient(): Promise<void> {
  const bound = setTimeout(() => {
    console.error("peer client: not done within 60 s");
    process.exit(3);
  }, 60_000);
  const options: ConnectOptions<Uint8Array> = transport === "tls"
    ? { port: Number(args[0]), tls: { ca: readFileSync(args[1]!, "utf8"), alpn: [args[2]!] } }
    : { path: args[0]! };
  const count = Number(args[transport === "tls" ? 3 : 1]);
  const conn = await connect(options);
  if (transport === "tls") console.log(`alpn=${conn.tls?.alpnProtocol ?? "none"}`);
  const sent = frames(count);
  for (const frame of sent) conn.write(frame); // pipelined, not awaited
  for (let i = 0; i < count; i++) {
    const echoed = await conn.readFrame();
    if (echoed === null || !sameBytes(echoed, sent[i]!)) {
      throw new Error(`frame ${i}: ${echoed === null ? "stream ended" : "echo differs"}`);
    }
  }
  await conn.close();
  clearTimeout(bound);
  console.log(`ok ${count}`);
}

await (role === "server" ? runServer() : runClient());
