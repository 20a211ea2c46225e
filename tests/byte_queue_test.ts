// The cork buffer behind every connection's writes (lib/_byte_queue.ts): which chunk may be
// reused, and when. The pump hands back each segment once the runtime is done with it, in order.

import { test } from "node:test";
import assert from "node:assert/strict";
import { ByteQueue } from "../lib/_byte_queue.ts";
import { decodeAll, lengthPrefix } from "../mod.ts";

function encode(queue: ByteQueue, bytes: Uint8Array): void {
  queue.reserve(bytes.length).set(bytes, queue.length);
  queue.length += bytes.length;
}

const filled = (length: number, value: number) => new Uint8Array(length).fill(value);

test("ByteQueue allocates nothing before the first write", () => {
  const queue = new ByteQueue();
  assert.equal(queue.bytes.length, 0);
  assert.equal(queue.byteLength, 0);
  assert.deepEqual(queue.take(), []);
});

test("ByteQueue reuses a chunk only after the last segment cut from it is written", () => {
  const queue = new ByteQueue();
  queue.vectored = true; // borrowed bodies stay by reference, as on a stream with writev
  // A small frame, a borrowed large body, a small frame: the two small ones share one chunk.
  encode(queue, filled(10, 1));
  queue.appendBorrowed(filled(64, 9));
  encode(queue, filled(10, 2));
  const [first, borrowed, last] = queue.take();
  assert.equal(first!.buffer, last!.buffer, "both small frames are cut from one chunk");
  // The pump has written the first segment; the rest is still on its way when the next frame is
  // encoded. Reusing the chunk now would overwrite `last` before it is sent.
  queue.recycle(first!);
  encode(queue, filled(100, 3));
  queue.recycle(borrowed!);
  assert.deepEqual(last, filled(10, 2), "an unsent segment kept its bytes");
  queue.recycle(last!);
  assert.deepEqual(queue.take()[0], filled(100, 3));
});

test("ByteQueue hands a written chunk to the next burst while more bytes wait behind it", () => {
  const queue = new ByteQueue(64);
  encode(queue, filled(64, 1));
  const [written] = queue.take();
  // More is queued before the first write finishes: the connection is busy.
  encode(queue, filled(64, 2));
  queue.recycle(written!);
  const [second] = queue.take();
  encode(queue, filled(64, 3));
  assert.equal(queue.bytes.buffer, written!.buffer, "the written chunk is filled again");
  assert.notEqual(second!.buffer, written!.buffer);
  assert.deepEqual(second, filled(64, 2), "the unsent burst is untouched");
});

test("ByteQueue copies a borrowed body under 1 MiB into its chunk unless it is vectored", () => {
  const queue = new ByteQueue();
  const body = filled(64 * 1024, 7);
  encode(queue, filled(10, 1));
  queue.appendBorrowed(body);
  const [one, ...rest] = queue.take();
  assert.equal(rest.length, 0, "one contiguous segment");
  assert.notEqual(one!.buffer, body.buffer, "copied");
  assert.equal(queue.borrowing, false);

  const vectored = new ByteQueue();
  vectored.vectored = true;
  vectored.appendBorrowed(body);
  vectored.appendBorrowed(body); // the same frame written twice
  assert.equal(vectored.borrowing, true);
  const segments = vectored.take();
  assert.equal(segments.length, 2);
  for (const segment of segments) assert.equal(segment.buffer, body.buffer, "by reference");
  vectored.recycle(segments[0]!);
  assert.equal(vectored.borrowing, true, "one of the two is still being written");
  vectored.recycle(segments[1]!);
  assert.equal(vectored.borrowing, false);
});

test("a frame just under 1 MiB plus its header, or larger, is encoded whole", () => {
  // 1 MiB minus 1 byte plus a 4-byte header does not fit a 1 MiB chunk: it gets one of its own.
  // (It threw a RangeError: the chunk was capped at 1 MiB.)
  const codec = lengthPrefix({ maxFrameLength: 8 * 1024 * 1024 });
  for (const size of [1024 * 1024 - 3, 1024 * 1024 - 1, 3 * 1024 * 1024]) {
    const frame = new Uint8Array(size).map((_, i) => i * 7);
    assert.deepEqual(decodeAll(codec, codec.encode(frame)), [frame]);
    const queue = new ByteQueue();
    codec.encodeTo(filled(10, 1), queue);
    codec.encodeWith!(size, (body) => body.set(frame), queue);
    const segments = queue.take();
    const wire = new Uint8Array(segments.reduce((n, x) => n + x.length, 0));
    segments.reduce((at, x) => (wire.set(x, at), at + x.length), 0);
    assert.deepEqual(decodeAll(codec, wire), [filled(10, 1), frame]);
  }
});
