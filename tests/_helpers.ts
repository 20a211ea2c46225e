// Shared test helpers: a seeded PRNG, hex, and a harness that feeds a decoder every way a TCP
// stream can be cut.

import assert from "node:assert/strict";
import { type Codec, type Decoder, detectRuntime, type SocketApi } from "../mod.ts";

/** The socket APIs to test here: native and node:net, or node:net alone in Node (its native API). */
export const SOCKET_APIS: readonly SocketApi[] = detectRuntime() === "node"
  ? ["node"]
  : ["native", "node"];

/** mulberry32: small, fast and reproducible. The seed is printed in failure messages. */
export function seededRandom(seed: number): () => number {
  let state = seed >>> 0;
  return () => {
    state = (state + 0x6d2b79f5) >>> 0;
    let t = state;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

export function hex(bytes: Uint8Array): string {
  return Array.from(bytes, (b) => b.toString(16).padStart(2, "0")).join("");
}

export function fromHex(text: string): Uint8Array {
  return new Uint8Array(text.match(/../g)?.map((h) => parseInt(h, 16)) ?? []);
}

export function concat(parts: Uint8Array[]): Uint8Array {
  const out = new Uint8Array(parts.reduce((n, p) => n + p.length, 0));
  let at = 0;
  for (const p of parts) {
    out.set(p, at);
    at += p.length;
  }
  return out;
}

export const utf8 = (text: string): Uint8Array => new TextEncoder().encode(text);

/**
 * Feeds `wire` to a fresh decoder cut at `cuts`, through one reused scratch buffer, the way an
 * adapter with a reused read buffer does. Whenever `push` says it handed out no views, the scratch
 * is overwritten with garbage at once, so a frame that secretly aliased it would be caught.
 */
export function decodeWithCuts<T>(
  decoder: Decoder<T>,
  wire: Uint8Array,
  cuts: number[],
  snapshot: (frame: T) => T,
): T[] {
  const frames: T[] = [];
  const scratch = new Uint8Array(wire.length);
  let start = 0;
  for (const end of [...cuts, wire.length]) {
    const chunk = scratch.subarray(0, end - start);
    chunk.set(wire.subarray(start, end));
    const emitted: T[] = [];
    const views = decoder.push(chunk, (frame) => emitted.push(frame));
    // Views are only valid until the buffer is reused: keep copies of them, and trust the rest.
    frames.push(...(views ? emitted.map(snapshot) : emitted));
    chunk.fill(0xee);
    start = end;
  }
  decoder.finish();
  return frames;
}

/** Every way the property tests cut a stream: whole, every split point, 1-byte, many random. */
export function checkAllChunkings<T>(
  codec: Codec<T>,
  frames: T[],
  options: { snapshot: (frame: T) => T; randomRuns?: number; seed?: number },
): void {
  const wire = concat(frames.map((f) => codec.encode(f)));
  const run = (cuts: number[], what: string) => {
    const decoded = decodeWithCuts(codec.createDecoder(), wire, cuts, options.snapshot);
    assert.deepEqual(decoded, frames, `decoding ${what} of a ${wire.length}-byte stream`);
  };
  run([], "in one chunk");
  for (let split = 1; split < wire.length; split++) run([split], `split at ${split}`);
  run(Array.from({ length: wire.length - 1 }, (_, i) => i + 1), "in 1-byte chunks");
  const seed = options.seed ?? 20261127;
  const random = seededRandom(seed);
  for (let i = 0; i < (options.randomRuns ?? 10_000); i++) {
    const cuts: number[] = [];
    for (let at = 0;;) {
      at += 1 + Math.floor(random() * random() * 64);
      if (at >= wire.length) break;
      cuts.push(at);
    }
    run(cuts, `random chunking #${i} (seed ${seed})`);
  }
}

/** A copy of a byte frame, detached from any buffer. */
export const copyBytes = (frame: Uint8Array): Uint8Array => frame.slice();

/** Bytes whose value depends on position and seed, so a reordered or shifted byte is caught. */
export function pattern(size: number, seed = 0): Uint8Array {
  const bytes = new Uint8Array(size);
  for (let i = 0; i < size; i++) bytes[i] = (i * 31 + seed + (i >>> 8)) & 0xff;
  return bytes;
}

/** Byte equality that stays fast on 64 MiB and prints a useful message. */
export function assertSameBytes(
  actual: Uint8Array | null,
  expected: Uint8Array,
  what: string,
): void {
  assert.ok(actual !== null, `${what}: got no frame`);
  assert.equal(actual.length, expected.length, `${what}: length`);
  for (let i = 0; i < expected.length; i++) {
    if (actual[i] !== expected[i]) assert.fail(`${what}: first difference at byte ${i}`);
  }
}

/** Polls until `condition` holds; bounded in time so a broken server fails the test, not CI. */
export async function waitFor(condition: () => boolean, what: string, ms = 10_000): Promise<void> {
  const deadline = Date.now() + ms;
  while (!condition()) {
    if (Date.now() > deadline) assert.fail(`timed out waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 5));
  }
}

export const sleep = (ms: number): Promise<void> =>
  new Promise((resolve) => setTimeout(resolve, ms));

/** A decoder's internal count of bytes allocated for a frame (or header, or body) in progress. */
export function reservedBytes(decoder: object): number {
  const reserved = (decoder as { reservedBytes?: unknown }).reservedBytes;
  assert.equal(typeof reserved, "number", "the decoder reports the bytes it reserved");
  return reserved as number;
}

/** Bytes whose value depends on position and seed, so a shifted or stale byte is caught. */
export function patterned(size: number, seed: number): Uint8Array {
  const bytes = new Uint8Array(size);
  for (let i = 0; i < size; i++) bytes[i] = (i * 7 + seed + (i >>> 9)) & 0xff;
  return bytes;
}

/** Byte equality as a boolean, for checks inside loops over many cuts. */
export function sameBytes(actual: Uint8Array, expected: Uint8Array): boolean {
  if (actual.length !== expected.length) return false;
  for (let i = 0; i < expected.length; i++) if (actual[i] !== expected[i]) return false;
  return true;
}

/**
 * Ways to cut a `length`-byte stream: one cut within 6 bytes of each mark (where a decoder's
 * buffer grows), then `runs` random chunkings of up to 48 KiB a piece, from `seed`.
 */
export function cutsAround(
  marks: number[],
  length: number,
  seed: number,
  runs: number,
): number[][] {
  const splits = new Set<number>();
  for (const mark of marks) {
    for (let d = -6; d <= 6; d++) if (mark + d > 0 && mark + d < length) splits.add(mark + d);
  }
  const random = seededRandom(seed);
  const chunkings: number[][] = [...splits].map((split) => [split]);
  for (let run = 0; run < runs; run++) {
    const cuts: number[] = [];
    for (let at = 0;;) {
      at += 1 + Math.floor(random() * random() * 48 * 1024);
      if (at >= length) break;
      cuts.push(at);
    }
    chunkings.push(cuts);
  }
  return chunkings;
}

/**
 * Ways to cut a `length`-byte stream, as lists of cut positions: none, 1-byte chunks, every
 * single split point, and `runs` random chunkings from `seed` whose pieces are 1 to `maxStep`
 * bytes (small pieces more often).
 */
export function chunkings(length: number, seed: number, runs: number, maxStep: number): number[][] {
  const all: number[][] = [[], Array.from({ length: Math.max(0, length - 1) }, (_, i) => i + 1)];
  for (let split = 1; split < length; split++) all.push([split]);
  const random = seededRandom(seed);
  for (let run = 0; run < runs; run++) {
    const cuts: number[] = [];
    for (let at = 0;;) {
      at += 1 + Math.floor(random() * random() * maxStep);
      if (at >= length) break;
      cuts.push(at);
    }
    all.push(cuts);
  }
  return all;
}
