// FrameWriter, through FramedConn: corking, borrowed bodies, coalescing, the high-water mark.
// A fake stream, because only a fake can count socket writes deterministically.

import { test } from "node:test";
import assert from "node:assert/strict";
import {
  BORROW_THRESHOLD,
  type ByteStream,
  type ByteStreamHandlers,
  ConnectionClosedError,
  decodeAll,
  delimiter,
  FramedConn,
  FrameTooLargeError,
  FrameWriter,
  lengthPrefix,
  netAddress,
  PartialWriteError,
} from "../mod.ts";
import { pattern } from "./_helpers.ts";

/** A stream that records write calls; only a fake can count them deterministically. */
class CountingStream implements ByteStream {
  readonly localAddress = netAddress("127.0.0.1", 1);
  readonly remoteAddress = netAddress("127.0.0.1", 2);
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

/** A stream with writev, as node:net is: records each writev call's segments as they are. */
class VectoredStream extends CountingStream {
  readonly vectors: Uint8Array[][] = [];
  writev(segments: readonly Uint8Array[]): Promise<void> {
    this.vectors.push([...segments]);
    return Promise.resolve();
  }
}

test("on a stream with writev, a frame of BORROW_THRESHOLD bytes or more is sent by reference", async () => {
  const stream = new VectoredStream();
  const conn = new FramedConn(stream, lengthPrefix());
  const big = pattern(BORROW_THRESHOLD);
  conn.write(pattern(10));
  conn.write(big);
  conn.write(pattern(20));
  await conn.flush();
  assert.equal(stream.writes.length, 0);
  assert.equal(stream.vectors.length, 1, "one writev call");
  const [segments] = stream.vectors;
  assert.deepEqual(segments!.map((w) => w.length), [4 + 10 + 4, BORROW_THRESHOLD, 4 + 20]);
  assert.equal(segments![1]!.buffer, big.buffer, "the body itself, not a copy");
});

test("on a stream without writev, frames under 1 MiB are copied so a burst stays one write", async () => {
  const stream = new CountingStream();
  const conn = new FramedConn(stream, lengthPrefix());
  conn.write(pattern(10));
  conn.write(pattern(BORROW_THRESHOLD));
  conn.write(pattern(20));
  await conn.flush();
  assert.deepEqual(stream.writes.map((w) => w.length), [4 + 10 + 4 + BORROW_THRESHOLD + 4 + 20]);
});

test("a frame of 1 MiB or more is written on its own, without a copy, on any stream", async () => {
  const stream = new CountingStream();
  let seen: Uint8Array | undefined;
  const record = stream.write.bind(stream);
  stream.write = (bytes) => {
    if (bytes.length === 1024 * 1024) seen = bytes;
    return record(bytes);
  };
  const conn = new FramedConn(stream, lengthPrefix());
  const big = pattern(1024 * 1024);
  conn.write(pattern(10));
  conn.write(big);
  await conn.flush();
  assert.deepEqual(stream.writes.map((w) => w.length), [4 + 10 + 4, 1024 * 1024]);
  assert.equal(seen?.buffer, big.buffer);
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
  void conn.close();
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

test("a failed write rejects every flush with PartialWriteError and later writes throw it", async () => {
  const stream = new CountingStream();
  let calls = 0;
  stream.write = (bytes: Uint8Array) =>
    ++calls === 1 ? Promise.resolve(Math.min(3, bytes.length)) : Promise.reject(new Error("EPIPE"));
  let failure: unknown = null;
  const writer = new FrameWriter(
    stream,
    lengthPrefix(),
    {
      onWriteError: (error) => (failure = error),
    },
  );
  writer.write(pattern(100));
  const first = writer.flush();
  await assert.rejects(first, (e) => e instanceof PartialWriteError && e.bytesWritten === 3);
  assert.ok(failure instanceof PartialWriteError, "the owner is told once");
  assert.throws(() => writer.write(pattern(1)), PartialWriteError);
  await assert.rejects(writer.flush(), PartialWriteError);
});

test("fail() rejects pending flushes only while bytes are unsent", async () => {
  const idle = new FrameWriter(
    new CountingStream(),
    lengthPrefix(),
  );
  idle.fail(new ConnectionClosedError());
  await idle.flush(); // nothing was waiting: nothing is lost, nothing to report
  assert.throws(() => idle.write(pattern(1)), ConnectionClosedError, "but it writes no more");

  const stream = new CountingStream();
  stream.write = () => new Promise<number>(() => {}); // a socket that never drains
  const busy = new FrameWriter(stream, lengthPrefix());
  busy.write(pattern(10));
  const flushing = busy.flush();
  busy.fail(new ConnectionClosedError("gone"));
  await assert.rejects(flushing, /gone/);
});

test("the blocked callback fires above the high-water mark and again at half of it", async () => {
  const events: boolean[] = [];
  const writer = new FrameWriter(
    new CountingStream(),
    lengthPrefix(),
    { writeHighWaterMark: 100, onBlockedChange: (blocked) => events.push(blocked) },
  );
  writer.write(pattern(200));
  writer.write(pattern(200));
  assert.deepEqual(events, [true], "once, however many writes go over");
  await writer.flush();
  assert.deepEqual(events, [true, false]);
});

test("on a stream with writev, reading is held while writes are blocked and let go once written", async () => {
  // The bug this catches: the writev path skipped the unblocking, so a server whose replies
  // once went over the high-water mark stopped reading for good (an echo deadlocked).
  const stream = new VectoredStream();
  const changes: boolean[] = [];
  const writer = new FrameWriter(stream, lengthPrefix(), {
    writeHighWaterMark: BORROW_THRESHOLD,
    onBlockedChange: (blocked) => changes.push(blocked),
  });
  // Bodies sent by reference: headers and bodies are separate segments, written with writev.
  for (let i = 0; i < 3; i++) writer.write(pattern(BORROW_THRESHOLD, i));
  assert.deepEqual(changes, [true]);
  await writer.flush();
  assert.equal(stream.vectors.length, 1, "one writev");
  assert.deepEqual(changes, [true, false]);
});

test("writeWith() puts the body after its header, in order with write(), in one socket write", async () => {
  const stream = new CountingStream();
  const codec = lengthPrefix();
  const conn = new FramedConn(stream, codec);
  conn.write(pattern(3, 1));
  conn.writeWith(5, (body) => body.set(pattern(5, 2)));
  conn.writeWith(0, () => {});
  conn.write(pattern(2, 3));
  await conn.flush();
  assert.equal(stream.writes.length, 1);
  assert.deepEqual(decodeAll(codec, stream.writes[0]!), [
    pattern(3, 1),
    pattern(5, 2),
    new Uint8Array(0),
    pattern(2, 3),
  ]);
});

test("writeWith() queues nothing when fill throws or the length is over the limit, and the connection goes on", async () => {
  const stream = new CountingStream();
  const codec = lengthPrefix({ maxFrameLength: 100 });
  const conn = new FramedConn(stream, codec);
  let called = false;
  assert.throws(() => conn.writeWith(101, () => (called = true)), FrameTooLargeError);
  assert.equal(called, false, "fill is not called for a length over the limit");
  assert.throws(() => conn.writeWith(-1, () => {}), RangeError);
  assert.throws(
    () =>
      conn.writeWith(10, (body) => {
        body.fill(9, 0, 5);
        throw new Error("the producer failed half-way");
      }),
    /half-way/,
  );
  conn.writeWith(4, (body) => body.set(pattern(4, 7)));
  await conn.flush();
  assert.deepEqual(
    decodeAll(codec, stream.writes[0]!),
    [pattern(4, 7)],
    "no trace of the failed one",
  );
});

test("writeWith() on a codec that must see the body first throws a TypeError", () => {
  const conn = new FramedConn(new CountingStream(), delimiter());
  assert.throws(() => conn.writeWith(3, (body) => body.fill(1)), TypeError);
});
