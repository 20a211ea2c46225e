// A server whose handler is slower than the network, for the backpressure tests. It prints
// `listening on HOST:PORT`, then one JSON line with what it received and its RSS figures, and
// replies with one frame [1]. It reads with `for await` and stops after EXPECTED_FRAMES frames,
// or, with `stream`, pipes `conn.readable` into a slow WritableStream until the client's end.
// Usage: <runtime> tests/_slow_server.ts API EXPECTED_FRAMES [for-await|stream]
//
// RSS is sampled right after a full garbage collection (Bun.gc, or V8's gc under Deno's
// --expose-gc). Without it, Deno's peak runs up to ~64 MiB above live memory: V8 frees the
// ArrayBuffers of consumed frames only when that much external memory has piled up. What the test
// must catch is memory the server *holds* because backpressure failed, and that survives a GC.

import process from "node:process";
import { lengthPrefix, serve, type SocketApi } from "../mod.ts";

const api = (process.argv[2] ?? "native") as SocketApi;
const expected = Number(process.argv[3] ?? 256);
const receive = process.argv[4] ?? "for-await";
const collect: (() => void) | undefined =
  // deno-lint-ignore no-explicit-any
  (globalThis as any).Bun?.gc?.bind(null, true) ?? (globalThis as any).gc;
const rss = () => {
  collect?.();
  return process.memoryUsage().rss;
};

// Settle the heap first, so the baseline is what the server needs before any traffic.
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
    const take = async (frame: Uint8Array) => {
      frames++;
      bytes += frame.length;
      checksum = (checksum + frame[0]! + frame[frame.length - 1]!) >>> 0;
      // Slower than loopback: the socket must pause instead of queueing frames in memory.
      await new Promise((resolve) => setTimeout(resolve, 4));
    };
    if (receive === "stream") {
      await conn.readable.pipeTo(new WritableStream({ write: take }));
    } else {
      for await (const frame of conn) {
        await take(frame);
        if (frames === expected) break;
      }
    }
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
