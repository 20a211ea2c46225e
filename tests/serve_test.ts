// serve() and FramedConn behaviour on real loopback sockets (the runtime's native adapter), plus
// one fake stream where only a fake can count socket writes deterministically.

import { test } from "node:test";
import assert from "node:assert/strict";
import {
  BORROW_THRESHOLD,
  type ByteStream,
  type ByteStreamHandlers,
  connect,
  ConnectionClosedError,
  delimiter,
  FramedConn,
  IdleTimeoutError,
  jsonHeader,
  lengthPrefix,
  serve,
} from "../mod.ts";
import { assertSameBytes, pattern, sleep, waitFor, withEchoServer } from "./conformance.ts";
import { utf8 } from "./_helpers.ts";

const T = { timeout: 60_000 };
const text = (
  bytes: Uint8Array | null,
) => (bytes === null ? null : new TextDecoder().decode(bytes));

test("a handler that throws closes only its own connection and reaches onError", T, async () => {
  const errors: unknown[] = [];
  const server = await serve({
    handler: async (conn) => {
      for await (const frame of conn) {
        if (text(frame) === "boom") throw new Error("handler failed");
        conn.write(frame);
      }
    },
    onError: (error) => errors.push(error),
  });
  const port = server.address.port;
  const good = await connect({ port });
  const bad = await connect({ port });
  await good.writeFrame(utf8("one"));
  assert.equal(text(await good.readFrame()), "one");
  await bad.writeFrame(utf8("boom"));
  assert.equal(await bad.readFrame().catch(() => null), null, "the failing connection is closed");
  await waitFor(() => errors.length === 1, "onError");
  assert.match(String(errors[0]), /handler failed/);
  await good.writeFrame(utf8("two"));
  assert.equal(text(await good.readFrame()), "two", "the other connection is untouched");
  good.close();
  bad.close();
  await server.shutdown();
});

test("shutdown stops accepting and still answers every frame already received", T, async () => {
  let handled = 0;
  let release!: () => void;
  const firstFrame = new Promise<void>((resolve) => (release = resolve));
  const server = await serve({
    handler: async (conn) => {
      for await (const frame of conn) {
        handled++;
        release();
        await sleep(2); // slow enough that shutdown lands mid-stream
        conn.write(frame);
      }
    },
  });
  const conn = await connect({ port: server.address.port });
  for (let i = 0; i < 100; i++) conn.write(pattern(10, i));
  await conn.flush();
  await firstFrame;
  const finished = server.shutdown();
  const replies: Uint8Array[] = [];
  for await (const frame of conn) replies.push(frame);
  await finished;
  assert.ok(handled > 0);
  assert.equal(replies.length, handled, "every frame the server took was answered");
  replies.forEach((reply, i) => assertSameBytes(reply, pattern(10, i), `reply ${i}`));
  await assert.rejects(connect({ port: server.address.port }), "no longer listening");
});

test("aborting the signal shuts the server down", T, async () => {
  const controller = new AbortController();
  const server = await serve({ signal: controller.signal, handler: () => {} });
  controller.abort();
  await server.finished;
  await assert.rejects(connect({ port: server.address.port }));
});

test("idleTimeout closes a silent connection with IdleTimeoutError", T, async () => {
  const errors: unknown[] = [];
  const server = await serve({
    idleTimeout: 100,
    handler: async (conn) => {
      for await (const _ of conn) { /* never arrives */ }
    },
    onError: (error) => errors.push(error),
  });
  const conn = await connect({ port: server.address.port });
  assert.equal(await conn.readFrame().catch(() => null), null);
  await waitFor(() => errors.length === 1, "onError");
  assert.ok(errors[0] instanceof IdleTimeoutError);
  conn.close();
  await server.shutdown();
});

test("a client can half-close and still read the server's answer", T, async () => {
  const server = await serve({
    handler: async (conn) => {
      let total = 0;
      for await (const frame of conn) total += frame.length;
      await conn.writeFrame(utf8(`got ${total} bytes`));
    },
  });
  const conn = await connect({ port: server.address.port });
  conn.write(new Uint8Array(1000));
  conn.write(new Uint8Array(24));
  await conn.closeWrite();
  assert.equal(text(await conn.readFrame()), "got 1024 bytes");
  assert.equal(await conn.readFrame(), null);
  conn.close();
  await server.shutdown();
});

test("json-header frames echo over a real socket with the same header and body", T, async () => {
  const codec = jsonHeader({ lengthFormat: "i32le" });
  await withEchoServer("native", codec, async ({ port }) => {
    const conn = await connect({ port, codec });
    await conn.writeFrame({ header: { file_name: "a.txt", md5: "x" }, body: utf8("hello") });
    const reply = await conn.readFrame();
    assert.deepEqual(reply?.header, { data_size: 5, file_name: "a.txt", md5: "x" });
    assert.equal(text(reply!.body), "hello");
    conn.close();
  });
});

test("delimited records echo over a real socket", T, async () => {
  const codec = delimiter({ delimiter: "\r\n" });
  await withEchoServer("native", codec, async ({ port }) => {
    const conn = await connect({ port, codec });
    for (const line of ["GET /", "", "Host: x"]) conn.write(utf8(line));
    const got = [
      text(await conn.readFrame()),
      text(await conn.readFrame()),
      text(await conn.readFrame()),
    ];
    assert.deepEqual(got, ["GET /", "", "Host: x"]);
    conn.close();
  });
});

test("writing after the peer is gone fails with a typed error, not a hang", T, async () => {
  // abort(): the socket is released at once (a graceful close() would linger, reading).
  const server = await serve({ handler: (conn) => conn.abort() });
  const conn = await connect({ port: server.address.port });
  assert.equal(await conn.readFrame().catch(() => null), null);
  await assert.rejects(
    (async () => {
      // The first writes may still be accepted by the kernel; the reset shows up soon after.
      for (let i = 0; i < 1000; i++) {
        await conn.writeFrame(new Uint8Array(64 * 1024));
        await sleep(1);
      }
    })(),
    (error: unknown) =>
      error instanceof Error &&
      /closed|reset|PARTIAL_WRITE|broken pipe/i.test(
        `${error} ${(error as { code?: string }).code}`,
      ),
  );
  conn.close();
  await server.shutdown();
});

/** A stream that records write calls; only a fake can count them deterministically. */
class CountingStream implements ByteStream {
  readonly localAddress = { hostname: "127.0.0.1", port: 1 };
  readonly remoteAddress = { hostname: "127.0.0.1", port: 2 };
  readonly writes: Uint8Array[] = [];
  start(_handlers: ByteStreamHandlers): void {}
  pause(): void {}
  resume(): void {}
  closeWrite(): Promise<void> {
    return Promise.resolve();
  }
  close(): void {}
  write(bytes: Uint8Array): Promise<number> {
    this.writes.push(bytes.slice());
    return Promise.resolve(bytes.length);
  }
}

test("a burst of write() calls in one tick leaves in one socket write", async () => {
  const stream = new CountingStream();
  const conn = new FramedConn(stream, lengthPrefix());
  for (let i = 0; i < 1000; i++) conn.write(pattern(60, i));
  await conn.flush();
  assert.equal(stream.writes.length, 1);
  assert.equal(stream.writes[0]!.length, 1000 * 64);
});

test("a frame of BORROW_THRESHOLD bytes or more is sent by reference, not copied", async () => {
  const stream = new CountingStream();
  const conn = new FramedConn(stream, lengthPrefix());
  const big = pattern(BORROW_THRESHOLD);
  conn.write(pattern(10));
  conn.write(big);
  conn.write(pattern(20));
  await conn.flush();
  assert.deepEqual(stream.writes.map((w) => w.length), [4 + 10 + 4, BORROW_THRESHOLD, 4 + 20]);
});

test("a burst of 64 KiB frames is coalesced into writes of up to 1 MiB", async () => {
  const stream = new CountingStream();
  const conn = new FramedConn(stream, lengthPrefix());
  for (let i = 0; i < 32; i++) conn.write(pattern(64 * 1024, i));
  await conn.flush();
  assert.ok(stream.writes.length <= 3, `${stream.writes.length} writes`);
  assert.equal(stream.writes.reduce((n, w) => n + w.length, 0), 32 * (64 * 1024 + 4));
});

test("write() returns false above the high-water mark and flush() clears it", async () => {
  const conn = new FramedConn(new CountingStream(), lengthPrefix(), { writeHighWaterMark: 1000 });
  assert.equal(conn.write(new Uint8Array(500)), true);
  assert.equal(conn.write(new Uint8Array(500)), false);
  await conn.flush();
  assert.equal(conn.write(new Uint8Array(10)), true);
});

test("write() after close() throws ConnectionClosedError", () => {
  const conn = new FramedConn(new CountingStream(), lengthPrefix());
  conn.close();
  assert.throws(() => conn.write(new Uint8Array(1)), ConnectionClosedError);
});

test("bytes already being written count toward writeHighWaterMark", async () => {
  let release!: () => void;
  const stalled = new Promise<void>((resolve) => (release = resolve));
  const stream = new CountingStream();
  stream.write = async (bytes: Uint8Array) => {
    await stalled; // the socket is full: this write is in flight until released
    return bytes.length;
  };
  const conn = new FramedConn(stream, lengthPrefix(), { writeHighWaterMark: 1000 });
  assert.equal(conn.write(new Uint8Array(600)), true);
  await Promise.resolve(); // the pump takes the first frame and starts writing it
  await Promise.resolve();
  assert.equal(conn.write(new Uint8Array(600)), false, "604 bytes in flight + 604 queued > 1000");
  release();
  await conn.flush();
  assert.equal(conn.write(new Uint8Array(10)), true);
});
