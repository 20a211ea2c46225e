import { test } from "node:test";
import assert from "node:assert/strict";
import { PartialWriteError, send, sendAll, type Writer } from "../mod.ts";
import { seededRandom } from "./_helpers.ts";

/** A writer that accepts at most `k` bytes per call, after a random delay, and records all it got. */
class TrickleWriter implements Writer {
  readonly received: number[] = [];
  calls = 0;
  readonly #k: number;
  readonly #random = seededRandom(11);
  constructor(k: number) {
    this.#k = k;
  }
  async write(bytes: Uint8Array): Promise<number> {
    this.calls++;
    // Yield a random number of times so overlapping callers really race.
    for (let i = Math.floor(this.#random() * 3); i > 0; i--) await Promise.resolve();
    const n = Math.min(bytes.length, this.#k);
    for (let i = 0; i < n; i++) this.received.push(bytes[i]!);
    return n;
  }
}

for (const k of [1, 3, 4096]) {
  test(`sendAll() delivers every byte in order through a writer that takes at most ${k} per call`, async () => {
    const writer = new TrickleWriter(k);
    const data = Uint8Array.from({ length: 10_000 }, (_, i) => i % 256);
    await sendAll(writer, data);
    assert.deepEqual(writer.received, Array.from(data));
    assert.equal(writer.calls, Math.ceil(10_000 / k));
  });

  test(`overlapping sendAll() calls never interleave (at most ${k} bytes per write)`, async () => {
    const writer = new TrickleWriter(k);
    const messages = Array.from({ length: 20 }, (_, i) => new Uint8Array(257).fill(i));
    await Promise.all(messages.map((m) => sendAll(writer, m)));
    assert.deepEqual(writer.received, messages.flatMap((m) => Array.from(m)));
  });
}

test("send() makes one write and reports a partial count, like Python's socket.send", async () => {
  const writer = new TrickleWriter(3);
  assert.equal(await send(writer, new Uint8Array(10)), 3);
  assert.equal(writer.calls, 1);
});

test("send() waits for an earlier sendAll() on the same writer", async () => {
  const writer = new TrickleWriter(2);
  const all = sendAll(writer, new Uint8Array(9).fill(1));
  const one = send(writer, new Uint8Array([2, 2, 2]));
  await Promise.all([all, one]);
  assert.deepEqual(writer.received, [1, 1, 1, 1, 1, 1, 1, 1, 1, 2, 2]);
});

test("sendAll() of an empty buffer writes nothing and resolves", async () => {
  const writer = new TrickleWriter(4);
  await sendAll(writer, new Uint8Array(0));
  assert.equal(writer.calls, 0);
});

test("a writer that accepts 0 bytes makes sendAll() fail instead of spinning", async () => {
  let calls = 0;
  const writer: Writer = { write: () => Promise.resolve(calls++ === 0 ? 5 : 0) };
  await assert.rejects(
    sendAll(writer, new Uint8Array(10)),
    (error: unknown) =>
      error instanceof PartialWriteError && error.bytesWritten === 5 && error.totalBytes === 10,
  );
  assert.equal(calls, 2);
});

test("a writer that fails midway reports how many bytes were written, and stays broken", async () => {
  let written = 0;
  const writer: Writer = {
    write(bytes) {
      if (written >= 6) return Promise.reject(new Error("connection reset"));
      const n = Math.min(bytes.length, 3);
      written += n;
      return Promise.resolve(n);
    },
  };
  await assert.rejects(
    sendAll(writer, new Uint8Array(10)),
    (error: unknown) =>
      error instanceof PartialWriteError && error.bytesWritten === 6 && error.totalBytes === 10 &&
      /connection reset/.test(error.message),
  );
  // The peer saw 6 of 10 bytes: whatever follows would be misread, so nothing more is written.
  await assert.rejects(
    sendAll(writer, new Uint8Array(1)),
    (error: unknown) => error instanceof PartialWriteError && error.bytesWritten === 0,
  );
  assert.equal(written, 6);
});

test("a sendAll() queued behind a failing one fails too, without writing", async () => {
  let calls = 0;
  const writer: Writer = { write: () => (calls++, Promise.reject(new Error("boom"))) };
  const first = sendAll(writer, new Uint8Array(4));
  const second = sendAll(writer, new Uint8Array(4));
  await assert.rejects(first, PartialWriteError);
  await assert.rejects(second, PartialWriteError);
  assert.equal(calls, 1);
});
