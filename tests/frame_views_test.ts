// Frames that view a read's chunk must stay whole for as long as their contract says, however
// the adapter reuses or frees a chunk the core says it is done with (Deno reads into the same
// buffer again; Bun detaches it). These are the paths where the core once said "done" too early.

import { test } from "node:test";
import assert from "node:assert/strict";
import {
  type ByteStream,
  connectStream,
  detectRuntime,
  FrameReader,
  jsonHeader,
  lengthPrefix,
  listenStreams,
} from "../mod.ts";
import { sleep } from "./_helpers.ts";

const T = { timeout: 20_000 };
const runtime = detectRuntime();

async function pair(): Promise<{ client: ByteStream; server: ByteStream; close(): void }> {
  const listener = await listenStreams({ api: "native" });
  const accepted = listener.accept();
  const client = await connectStream({ api: "native", port: listener.address.port });
  const server = (await accepted)!;
  // The client reads nothing but must keep reading, or its socket would back up.
  client.start({ data: () => false, end() {}, error() {} });
  return {
    client,
    server,
    close() {
      client.close();
      server.close();
      listener.close();
    },
  };
}

// Writes more bytes, in separate reads, so that an adapter that reuses or frees a chunk does so.
async function moreReads(stream: ByteStream, reads: number): Promise<void> {
  for (let i = 0; i < reads; i++) {
    try {
      await stream.write(new Uint8Array(100).fill(0x78));
    } catch {
      return; // the reader may have closed by now: what was read is what counts
    }
    await sleep(10);
  }
}

test(
  `${runtime} native: a frame read just before a decode error in the same read keeps its bytes`,
  T,
  async () => {
    const { client, server, close } = await pair();
    try {
      const reader = new FrameReader(server, lengthPrefix({ maxFrameLength: 1024 }), {
        onFailure: () => reader.discard(), // as FramedConn does: read on and drop what comes
      });
      const first = reader.readFrame();
      const second = reader.readFrame().catch((error: unknown) => error);
      // "hello", then a header announcing 1 GiB: one write, read in one chunk.
      await client.write(new Uint8Array([0, 0, 0, 5, 104, 101, 108, 108, 111, 0x40, 0, 0, 0]));
      const frame = await first;
      assert.ok((await second) instanceof Error);
      await moreReads(client, 5);
      assert.equal(new TextDecoder().decode(frame!), "hello");
    } finally {
      close();
    }
  },
);

test(
  `${runtime} native: onFrame() on a lending FrameReader gives frames that stay whole`,
  T,
  async () => {
    const { client, server, close } = await pair();
    try {
      const reader = new FrameReader(server, lengthPrefix(), { borrow: true });
      const kept: Uint8Array[] = [];
      void reader.onFrame((frame) => kept.push(frame)).catch(() => {});
      for (let i = 0; i < 20; i++) {
        const frame = new Uint8Array(4 + 100).fill(i);
        new DataView(frame.buffer).setUint32(0, 100);
        await client.write(frame);
        await sleep(5);
      }
      await moreReads(client, 2);
      assert.equal(kept.length, 20);
      kept.forEach((frame, i) => {
        assert.equal(frame.length, 100, `frame ${i}`);
        assert.ok(frame.every((byte) => byte === i), `frame ${i} changed`);
      });
    } finally {
      close();
    }
  },
);

test(
  `${runtime} native: a lending FrameReader that moves from readFrame() to onFrame() delivers every later frame whole`,
  T,
  async () => {
    const { client, server, close } = await pair();
    try {
      const reader = new FrameReader(server, lengthPrefix(), { borrow: true });
      const frameOf = (i: number) => {
        const frame = new Uint8Array(4 + 100).fill(i);
        new DataView(frame.buffer).setUint32(0, 100);
        return frame;
      };
      // Three frames in one read: one lent to readFrame(), two queued behind it.
      const first = reader.readFrame();
      await client.write(new Uint8Array([...frameOf(0), ...frameOf(1), ...frameOf(2)]));
      assert.ok((await first)!.every((byte) => byte === 0));
      const kept: Uint8Array[] = [];
      const done = reader.onFrame((frame) => kept.push(frame));
      // Later reads, which an adapter reusing its buffer would write over the queued frames with.
      for (let i = 3; i < 20; i++) {
        await client.write(frameOf(i));
        await sleep(5);
      }
      await client.closeWrite();
      await done;
      assert.equal(kept.length, 19, "every frame after the first reaches onFrame()");
      kept.forEach((frame, k) => {
        assert.equal(frame.length, 100, `frame ${k + 1}`);
        assert.ok(frame.every((byte) => byte === k + 1), `frame ${k + 1} changed`);
      });
    } finally {
      close();
    }
  },
);

test(`${runtime} native: an empty JSON-header body stays usable after later reads`, T, async () => {
  const { client, server, close } = await pair();
  try {
    const codec = jsonHeader();
    const reader = new FrameReader(server, codec);
    const first = reader.readFrame();
    const header = new TextEncoder().encode(JSON.stringify({ op: "ping", data_size: 0 }));
    const message = new Uint8Array(4 + header.length);
    new DataView(message.buffer).setUint32(0, header.length);
    message.set(header, 4);
    await client.write(message);
    const frame = (await first)!;
    const second = reader.readFrame();
    await client.write(message);
    await second;
    assert.equal(frame.body.length, 0);
    assert.equal(frame.body.subarray(0, 0).length, 0); // throws on a detached buffer
  } finally {
    close();
  }
});
