// FrameReader over an in-memory stream pair: any decoder gets the queue, the waiters, read
// backpressure and the end of reading. Deterministic: no socket, no timing.

import { test } from "node:test";
import assert from "node:assert/strict";
import {
  type Decoder,
  type DecoderSource,
  FrameReader,
  IncompleteFrameError,
  jsonHeader,
  type JsonHeaderEvent,
  lengthPrefix,
  memoryStreamPair,
  sendAll,
} from "../mod.ts";
import { pattern, sleep } from "./_helpers.ts";

const codec = lengthPrefix({ lengthFormat: "u8" });
const wire = (...frames: Uint8Array[]) =>
  new Uint8Array(frames.flatMap((frame) => [...codec.encode(frame)]));

test("readFrame() returns frames in order, then null at a clean end of stream", async () => {
  const [a, b] = memoryStreamPair({ maxRead: 1 });
  const reader = new FrameReader(b, codec);
  await sendAll(a, wire(pattern(3, 1), pattern(0), pattern(5, 2)));
  await a.closeWrite();
  assert.deepEqual(await reader.readFrame(), pattern(3, 1));
  assert.deepEqual(await reader.readFrame(), pattern(0));
  assert.deepEqual(await reader.readFrame(), pattern(5, 2));
  assert.equal(await reader.readFrame(), null);
  assert.equal(await reader.readFrame(), null, "and null again");
});

test("an end of stream mid-frame rejects readers with IncompleteFrameError and tells the owner", async () => {
  const [a, b] = memoryStreamPair();
  let told: unknown = null;
  const reader = new FrameReader(b, codec, { onFailure: (error) => (told = error) });
  await sendAll(a, new Uint8Array([5, 1, 2]));
  await a.closeWrite();
  await assert.rejects(reader.readFrame(), IncompleteFrameError);
  assert.ok(told instanceof IncompleteFrameError);
  await assert.rejects(reader.readFrame(), IncompleteFrameError, "the error stays");
});

test("frames over readHighWaterMark pause the stream until the queue drains to half", async () => {
  // capacity 1: the sender can only get ahead of a paused reader by one chunk.
  const [a, b] = memoryStreamPair({ capacity: 1 });
  const reader = new FrameReader(b, codec, { readHighWaterMark: 3 * (100 + 64) });
  const first = reader.readFrame(); // starts reading
  let sent = 0;
  const sending = (async () => {
    for (; sent < 20; sent++) await sendAll(a, wire(pattern(100, sent)));
    await a.closeWrite();
  })();
  assert.deepEqual(await first, pattern(100, 0));
  await sleep(20);
  assert.ok(sent < 8, `the sender was held back (${sent} of 20 frames sent)`);
  for (let i = 1; i < 20; i++) assert.deepEqual(await reader.readFrame(), pattern(100, i));
  await sending;
  assert.equal(await reader.readFrame(), null);
});

test("a decoder source's sizeOf is what read backpressure counts", async () => {
  const [a, b] = memoryStreamPair({ capacity: 1 });
  // Every byte is a frame that says it costs 1,000 bytes: a 2,000-byte mark holds two.
  const bytes: DecoderSource<number> = {
    createDecoder: (): Decoder<number> => ({
      push(chunk, onFrame) {
        for (const byte of chunk) onFrame(byte);
        return false;
      },
      finish() {},
      bufferedBytes: 0,
    }),
    sizeOf: () => 1_000,
  };
  const reader = new FrameReader(b, bytes, { readHighWaterMark: 2_000 });
  const first = reader.readFrame();
  let sent = 0;
  const sending = (async () => {
    for (; sent < 50; sent++) await sendAll(a, new Uint8Array([sent]));
  })();
  assert.equal(await first, 0);
  await sleep(20);
  assert.ok(sent < 10, `paused after a few frames (${sent} of 50 sent)`);
  for (let i = 1; i < 50; i++) assert.equal(await reader.readFrame(), i);
  await sending;
});

test("a streaming JSON-header decoder gets the same for await as any codec", async () => {
  const json = jsonHeader();
  const [a, b] = memoryStreamPair({ maxRead: 7 });
  const reader = new FrameReader(b, json.streamingCodec());
  await sendAll(a, json.encode({ header: { name: "a" }, body: pattern(20, 3) }));
  await a.closeWrite();
  const events: JsonHeaderEvent[] = [];
  for await (const event of reader) events.push(event);
  assert.equal(events[0]!.type, "header");
  assert.equal(events.at(-1)!.type, "end");
  const body = events.flatMap((e) => (e.type === "body" ? [...e.chunk] : []));
  assert.deepEqual(new Uint8Array(body), pattern(20, 3));
});

test("end() delivers the frames already queued, then null, and reads no more", async () => {
  const [a, b] = memoryStreamPair();
  const reader = new FrameReader(b, codec);
  const first = reader.readFrame();
  await sendAll(a, wire(pattern(1, 1), pattern(1, 2)));
  assert.deepEqual(await first, pattern(1, 1));
  await sleep(5);
  reader.end();
  assert.deepEqual(await reader.readFrame(), pattern(1, 2), "queued before end()");
  assert.equal(await reader.readFrame(), null);
});

test("discard() drops what arrives until the peer ends, then peerEnded() resolves", async () => {
  const [a, b] = memoryStreamPair({ capacity: 16 });
  const reader = new FrameReader(b, codec);
  reader.discard();
  // Far more than the capacity: only a reader that keeps reading lets all of it through.
  for (let i = 0; i < 100; i++) await sendAll(a, wire(pattern(50, i)));
  await a.closeWrite();
  await reader.peerEnded();
  assert.equal(await reader.readFrame(), null);
});

test("onFrame() while a readFrame() waits throws a TypeError, and readFrame() after onFrame() rejects", async () => {
  const [, b] = memoryStreamPair();
  const reader = new FrameReader(b, codec);
  const waiting = reader.readFrame();
  assert.throws(() => reader.onFrame(() => {}), TypeError);
  reader.release();
  assert.equal(await waiting, null);

  const [, d] = memoryStreamPair();
  const other = new FrameReader(d, codec);
  void other.onFrame(() => {});
  await assert.rejects(other.readFrame(), TypeError);
  other.release();
});

test("onFrame() inside a for await loop's body throws a TypeError at once", async () => {
  const [a, b] = memoryStreamPair();
  const reader = new FrameReader(b, codec);
  await sendAll(a, wire(pattern(1, 1), pattern(1, 2)));
  for await (const _ of reader) {
    assert.throws(() => reader.onFrame(() => {}), TypeError, "not one turn later");
    break;
  }
  void reader.onFrame(() => {}); // the loop has ended: switching is fine now
  reader.release();
});

test("leaving a for await loop early keeps the connection: the next loop gets the next frame", async () => {
  const [a, b] = memoryStreamPair();
  const reader = new FrameReader(b, codec);
  await sendAll(a, wire(pattern(1, 1), pattern(1, 2), pattern(1, 3)));
  await a.closeWrite();
  for await (const frame of reader) {
    assert.deepEqual(frame, pattern(1, 1));
    break;
  }
  const rest: Uint8Array[] = [];
  for await (const frame of reader) rest.push(frame);
  assert.deepEqual(rest, [pattern(1, 2), pattern(1, 3)]);
  // Finished iterators stay finished, and a finished loop lets onFrame() take over.
  const iterator = reader[Symbol.asyncIterator]();
  assert.deepEqual(await iterator.next(), { value: undefined, done: true });
  assert.deepEqual(await iterator.next(), { value: undefined, done: true });
  await reader.onFrame(() => {});
});

test("a for await loop ends with the decode error, and its iterator is finished after it", async () => {
  const [a, b] = memoryStreamPair();
  const reader = new FrameReader(b, codec);
  await sendAll(a, wire(pattern(2, 1)));
  await sendAll(a, new Uint8Array([9, 1])); // announces 9 bytes, sends 1, then ends
  await a.closeWrite();
  const iterator = reader[Symbol.asyncIterator]();
  assert.deepEqual(await iterator.next(), { value: pattern(2, 1), done: false });
  await assert.rejects(iterator.next(), IncompleteFrameError);
  assert.deepEqual(await iterator.next(), { value: undefined, done: true });
  // The failed loop no longer counts as reading: onFrame() may be called (and fails the same way).
  await assert.rejects(reader.onFrame(() => {}), IncompleteFrameError);
});

test("a for await loop delivers frames queued ahead of it in order, and ones that arrive later", async () => {
  const [a, b] = memoryStreamPair();
  const reader = new FrameReader(b, codec);
  const frames = Array.from({ length: 300 }, (_, i) => pattern(i % 50, i));
  // Queued: the first read decodes all of these from one chunk.
  await sendAll(a, wire(...frames.slice(0, 200)));
  const received: Uint8Array[] = [];
  const reading = (async () => {
    for await (const frame of reader) received.push(frame);
  })();
  await sleep(0);
  await sendAll(a, wire(...frames.slice(200)));
  await a.closeWrite();
  await reading;
  assert.deepEqual(received, frames);
});

test("a slow for await loop pauses reading above readHighWaterMark and resumes below half", async () => {
  const [a, b] = memoryStreamPair();
  let paused = 0;
  const pause = b.pause.bind(b);
  b.pause = () => (paused++, pause());
  const reader = new FrameReader(b, codec, { readHighWaterMark: 1000 });
  const sending = (async () => {
    for (let i = 0; i < 100; i++) await sendAll(a, wire(pattern(100, i)));
    await a.closeWrite();
  })();
  let count = 0;
  for await (const frame of reader) {
    assert.deepEqual(frame, pattern(100, count));
    count++;
    if (count % 10 === 0) await sleep(1);
  }
  await sending;
  assert.equal(count, 100);
  assert.ok(paused > 0, "reading paused while the loop was slow");
});

test("a FrameReader's iterator is async-iterable itself, as a generator's is", async () => {
  const [a, b] = memoryStreamPair();
  const reader = new FrameReader(b, codec);
  await sendAll(a, wire(pattern(1, 1), pattern(1, 2)));
  await a.closeWrite();
  const iterator = reader[Symbol.asyncIterator]();
  assert.equal(iterator[Symbol.asyncIterator](), iterator);
  const frames: Uint8Array[] = [];
  for await (const frame of ReadableStream.from(iterator)) frames.push(frame); // (no Array.fromAsync in Node 20)
  assert.deepEqual(frames, [pattern(1, 1), pattern(1, 2)]);
});
