// Decoders alone, without a socket: framed's length-prefix decoder next to it-length-prefixed (the
// libp2p codec on npm), decoding the same bytes (varint lengths, which it-length-prefixed uses),
// fed in 64 KiB chunks as a socket would deliver them.
//   <runtime> bench/codec_bench.ts [--time MS]
// mitata's report goes to stderr; the last stdout line is JSON rows.

import process from "node:process";
import { parseArgs } from "node:util";
import { barplot, bench, do_not_optimize, run, summary } from "mitata";
import * as lp from "it-length-prefixed";
import { detectRuntime, lengthPrefix } from "../mod.ts";
import { formatBytes } from "./_cells.ts";

const { values } = parseArgs({
  options: { payloads: { type: "string", default: "64,4096,65536" } },
});
const payloads = values.payloads!.split(",").map(Number);
const TOTAL = 1024 * 1024;
const CHUNK = 64 * 1024;

const codec = lengthPrefix({ lengthFormat: "varint" });
const cases: { name: string; payload: number; frames: number }[] = [];

for (const payload of payloads) {
  const frames = Math.floor(TOTAL / payload);
  const one = codec.encode(Uint8Array.from({ length: payload }, (_, i) => i & 0xff));
  const wire = new Uint8Array(one.length * frames);
  for (let i = 0; i < frames; i++) wire.set(one, i * one.length);
  const chunks: Uint8Array[] = [];
  for (let at = 0; at < wire.length; at += CHUNK) chunks.push(wire.subarray(at, at + CHUNK));

  barplot(() => {
    summary(() => {
      bench(`framed decoder ${formatBytes(payload)}`, () => {
        const decoder = codec.createDecoder({ reuseFrameBuffer: true });
        let count = 0;
        for (const chunk of chunks) {
          decoder.push(chunk, (frame) => (count += frame.length > -1 ? 1 : 0));
        }
        do_not_optimize(count);
      });
      bench(`it-length-prefixed ${formatBytes(payload)}`, async () => {
        let count = 0;
        // .subarray() gives the same contiguous Uint8Array framed hands out (it copies a frame
        // that spans chunks, as framed does).
        for await (const frame of lp.decode(chunks)) {
          do_not_optimize(frame.subarray());
          count++;
        }
        do_not_optimize(count);
      });
    });
  });
  cases.push({ name: `framed decoder`, payload, frames }, {
    name: `it-length-prefixed`,
    payload,
    frames,
  });
}

const { benchmarks } = await run({
  print: (text: string) => process.stderr.write(text + "\n"),
  colors: false,
});
const rows = benchmarks.flatMap((trial) =>
  trial.runs.map((r) => {
    const [name, payloadText] = [
      trial.alias.replace(/ \d+ (B|KiB)$/, ""),
      trial.alias.match(/(\d+) (B|KiB)$/)!,
    ];
    const payload = Number(payloadText[1]) * (payloadText[2] === "KiB" ? 1024 : 1);
    const frames = cases.find((c) => c.payload === payload)!.frames;
    const seconds = r.stats!.p50 / 1e9;
    return {
      name: `${name} (${detectRuntime()})`,
      payload,
      frames_per_s: frames / seconds,
      mb_per_s: (frames * payload) / seconds / 1e6,
    };
  })
);
console.log(JSON.stringify(rows));
