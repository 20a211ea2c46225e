// tests/_slow_server.ts with a Web Streams handler: `conn.readable.pipeTo(a slow WritableStream)`.
// It prints `listening on HOST:PORT`, then, once the client has ended its side, one JSON line with
// what it received and its RSS figures, and replies with one frame [1].
// Usage: <runtime> tests/_slow_stream_server.ts API
//
// RSS is sampled right after a full garbage collection (Bun.gc, or V8's gc under --expose-gc), as
// in tests/_slow_server.ts: what the test must catch is memory held because backpressure failed.

import process from "node:process";
import { lengthPrefix, serve, type SocketApi } from "../mod.ts";

const api = (process.argv[2] ?? "native") as SocketApi;
const collect: (() => void) | undefined =
  // deno-lint-ignore no-explicit-any
  (globalThis as any).Bun?.gc?.bind(null, true) ?? (globalThis as any).gc;
const rss = () => {
  collect?.();
  return process.memoryUsage().rss;
};

await new Promise((resolve) => setTimeout(resolve, 200));
const baseline = rss();
let peak = baseline;
const sampler = setInterval(() => (peak = Math.max(peak, rss())), 20);

const server = await serve({
  api,
  codec: lengthPrefix({ maxFrameLength: 2 * 1024 * 1024 }),
  handler: async (conn) => {
    let frames = 0;
    let bytes = 0;
    let checksum = 0;
    await conn.readable.pipeTo(
      new WritableStream({
        async write(frame) {
          frames++;
          bytes += frame.length;
          checksum = (checksum + frame[0]! + frame[frame.length - 1]!) >>> 0;
          // Slower than loopback: the socket must pause instead of queueing frames in memory.
          await new Promise((resolve) => setTimeout(resolve, 4));
        },
      }),
    );
    peak = Math.max(peak, rss());
    clearInterval(sampler);
    console.log(
      JSON.stringify({
        frames,
        bytes,
        checksum,
        baselineMiB: baseline / 2 ** 20,
        peakMiB: peak / 2 ** 20,
      }),
    );
    await conn.writeFrame(new Uint8Array([1]));
    void server.shutdown();
  },
});
console.log(`listening on ${server.address.hostname}:${server.address.port}`);
