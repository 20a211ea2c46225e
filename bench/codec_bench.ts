// Decoders alone, without a socket: framed's length-prefix decoder next to it-length-prefixed (the
// libp2p codec on npm), decoding the same bytes (varint lengths, which it-length-prefixed uses),
// fed in 64 KiB chunks as a socket would deliver them.
//   <runtime> bench/codec_bench.ts [--payloads 64,4096,65536] [--time MS]
// Each case is timed by mitata's `measure` (warm-up, then samples for --time ms of CPU time, the
// cells' budget: mitata's `run()` spends 642 ms per case and as long again calibrating, seconds
// the quick suite does not have). The only stdout line is JSON rows.

import { parseArgs } from "node:util";
import { do_not_optimize, measure } from "mitata";
import * as lp from "it-length-prefixed";
import { detectRuntime, lengthPrefix } from "../mod.ts";

const { values } = parseArgs({
  options: {
    payloads: { type: "string", default: "64,4096,65536" },
    time: { type: "string", default: "400" },
  },
});
const payloads = values.payloads!.split(",").map(Number);
const minCpuTime = Number(values.time) * 1e6;
const WARM_UP_MS = 300;
const TOTAL = 1024 * 1024;
const CHUNK = 64 * 1024;

const codec = lengthPrefix({ lengthFormat: "varint" });
const rows: { name: string; payload: number; frames_per_s: number; mb_per_s: number }[] = [];
const runtime = detectRuntime();

for (const payload of payloads) {
  const frames = Math.floor(TOTAL / payload);
  const one = codec.encode(Uint8Array.from({ length: payload }, (_, i) => i & 0xff));
  const wire = new Uint8Array(one.length * frames);
  for (let i = 0; i < frames; i++) wire.set(one, i * one.length);
  const chunks: Uint8Array[] = [];
  for (let at = 0; at < wire.length; at += CHUNK) chunks.push(wire.subarray(at, at + CHUNK));

  const cases: [string, () => unknown][] = [
    ["framed decoder", () => {
      const decoder = codec.createDecoder({ reuseFrameBuffer: true });
      let count = 0;
      for (const chunk of chunks) {
        decoder.push(chunk, (frame) => (count += frame.length > -1 ? 1 : 0));
      }
      do_not_optimize(count);
    }],
    ["it-length-prefixed", async () => {
      let count = 0;
      // .subarray() gives the same contiguous Uint8Array framed hands out (it copies a frame
      // that spans chunks, as framed does).
      for await (const frame of lp.decode(chunks)) {
        do_not_optimize(frame.subarray());
        count++;
      }
      do_not_optimize(count);
    }],
  ];
  for (const [name, decode] of cases) {
    // JIT tiers need more than measure's own warm-up: without this, a 120 ms measure read Node's
    // and Bun's decoder at a third of what a longer run settles at.
    for (const until = performance.now() + WARM_UP_MS; performance.now() < until;) await decode();
    const stats = await measure(decode, { min_cpu_time: minCpuTime });
    const seconds = stats.p50 / 1e9;
    rows.push({
      name: `${name} (${runtime})`,
      payload,
      frames_per_s: frames / seconds,
      mb_per_s: (frames * payload) / seconds / 1e6,
    });
  }
}
console.log(JSON.stringify(rows));
