// The native adapter's read buffer starts small, grows while reads fill it and shrinks again when
// they stay small (Deno; Bun hands out a fresh buffer per read, and runs the same checks). However
// it moves, no frame may see its bytes change: frames of random sizes from 0 to 300 KiB go through
// bursts, idle pauses and trickles, and every frame is checked against the SHA-256 of what was sent,
// once everything has arrived (a frame kept in `for await` must survive later reads) or inside the
// handler (borrowed frames).

import { test } from "node:test";
import assert from "node:assert/strict";
import { createHash } from "node:crypto";
import { connect, detectRuntime, type FramedConn, lengthPrefix, listen } from "../mod.ts";
import { seededRandom } from "./_helpers.ts";

const T = { timeout: 120_000 };
const KiB = 1024;
const codec = lengthPrefix({ maxFrameLength: 512 * KiB });

const sha256 = (bytes: Uint8Array) => createHash("sha256").update(bytes).digest("hex");
const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

function randomBytes(length: number): Uint8Array {
  const bytes = new Uint8Array(length);
  // getRandomValues fills at most 64 KiB per call.
  for (let at = 0; at < length; at += 65536) {
    crypto.getRandomValues(bytes.subarray(at, Math.min(length, at + 65536)));
  }
  return bytes;
}

async function within<V>(promise: Promise<V>, ms: number, what: string): Promise<V> {
  let timer: ReturnType<typeof setTimeout> | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`${what}: nothing after ${ms} ms`)), ms);
  });
  try {
    return await Promise.race([promise, timeout]);
  } finally {
    clearTimeout(timer);
  }
}

/**
 * Sends rounds of: a burst of large frames (0–300 KiB, the buffer grows to its maximum), a burst
 * of small ones, an idle pause, then a trickle of tiny frames flushed one by one (reads stay small,
 * the buffer shrinks). Returns the SHA-256 and length of every frame, in order.
 */
async function sendPatterns(
  conn: FramedConn<Uint8Array>,
  seed: number,
): Promise<{ length: number; hash: string }[]> {
  const random = seededRandom(seed);
  const sent: { length: number; hash: string }[] = [];
  const send = (length: number) => {
    const frame = randomBytes(length);
    sent.push({ length, hash: sha256(frame) });
    conn.write(frame); // frames under 1 MiB are copied into the cork buffer at once
  };
  for (let round = 0; round < 5; round++) {
    for (let i = 0; i < 24; i++) send(Math.floor(random() * 300 * KiB));
    await conn.flush();
    for (let i = 0; i < 300; i++) send(Math.floor(random() * 2 * KiB));
    await conn.flush();
    await sleep(30);
    for (let i = 0; i < 20; i++) {
      send(Math.floor(random() * 512));
      await conn.flush();
      await sleep(2);
    }
  }
  return sent;
}

async function pair(): Promise<{
  client: FramedConn<Uint8Array>;
  server: FramedConn<Uint8Array>;
  close(): void;
}> {
  const listener = await listen({ api: "native", codec });
  const accepted = listener.accept();
  const client = await connect({ api: "native", port: listener.address.port, codec });
  const server = (await accepted)!;
  return {
    client,
    server,
    close() {
      client.abort();
      server.abort();
      listener.close();
    },
  };
}

test(
  `${detectRuntime()} native: frames kept from for await keep their bytes while the read buffer grows and shrinks`,
  T,
  async () => {
    const seed = 0x5eed_0001;
    const { client, server, close } = await pair();
    try {
      const received: Uint8Array[] = [];
      const receiving = (async () => {
        for await (const frame of server) received.push(frame);
      })();
      const sent = await sendPatterns(client, seed);
      await client.closeWrite();
      await within(receiving, 60_000, "receiving");
      assert.equal(received.length, sent.length, `frames received (seed ${seed})`);
      // Checked only now, after every later read: a frame whose buffer was read over has changed.
      received.forEach((frame, i) => {
        const expected = sent[i]!;
        assert.equal(frame.length, expected.length, `frame ${i} length (seed ${seed})`);
        assert.equal(
          sha256(frame),
          expected.hash,
          `frame ${i} of ${frame.length} bytes (seed ${seed})`,
        );
      });
    } finally {
      close();
    }
  },
);

test(
  `${detectRuntime()} native: borrowed frames are whole inside the handler while the read buffer grows and shrinks`,
  T,
  async () => {
    const seed = 0x5eed_0002;
    const { client, server, close } = await pair();
    try {
      const hashes: { length: number; hash: string }[] = [];
      const receiving = server.onFrame((frame) => {
        hashes.push({ length: frame.length, hash: sha256(frame) });
      }, { borrow: true });
      const sent = await sendPatterns(client, seed);
      await client.closeWrite();
      await within(receiving, 60_000, "receiving");
      assert.equal(hashes.length, sent.length, `frames received (seed ${seed})`);
      hashes.forEach((got, i) => assert.deepEqual(got, sent[i], `frame ${i} (seed ${seed})`));
    } finally {
      close();
    }
  },
);
