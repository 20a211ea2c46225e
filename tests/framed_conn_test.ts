// FramedConn over an in-memory stream pair: what ties the reader and the writer together (reads
// held while replies cannot be sent) and how a connection ends. Deterministic: no socket.

import { test } from "node:test";
import assert from "node:assert/strict";
import {
  ConnectionClosedError,
  FramedConn,
  lengthPrefix,
  memoryStreamPair,
  sendAll,
} from "../mod.ts";
import { pattern, sleep } from "./_helpers.ts";

const codec = lengthPrefix();

test("close() sends what was written, then FIN, and resolves once the peer has ended too", async () => {
  const [a, b] = memoryStreamPair({ maxWrite: 7, maxRead: 5 });
  const conn = new FramedConn(a, codec, { lingerTimeout: 60_000 });
  const peer = new FramedConn(b, codec);
  conn.write(pattern(100, 1));
  conn.write(pattern(3, 2));
  let closed = false;
  const closing = conn.close().then(() => (closed = true));
  assert.deepEqual(await peer.readFrame(), pattern(100, 1));
  assert.deepEqual(await peer.readFrame(), pattern(3, 2));
  assert.equal(await peer.readFrame(), null, "then the end of stream");
  await sleep(10);
  assert.equal(closed, false, "waits for the peer's end of stream");
  await peer.close();
  await closing;
});

test("a server holds reading while its replies cannot be sent, a client does not", async () => {
  for (const pauseReadsWhileWriteBlocked of [true, false]) {
    // capacity 64 KiB each way; the client never reads its replies.
    const [client, server] = memoryStreamPair({ capacity: 64 * 1024 });
    const echo = new FramedConn(server, codec, {
      writeHighWaterMark: 16 * 1024,
      pauseReadsWhileWriteBlocked,
    });
    void echo.onFrame((frame) => echo.write(frame));
    let sent = 0;
    const sending = (async () => {
      for (; sent < 100; sent++) await sendAll(client, codec.encode(pattern(4096, sent)));
    })();
    await sleep(50);
    if (pauseReadsWhileWriteBlocked) {
      assert.ok(sent < 100, `reading held: ${sent} of 100 frames got through`);
    } else {
      await sending;
      assert.equal(sent, 100, "reading went on; the replies queue instead");
    }
    echo.abort();
    client.close();
    await sending.catch(() => {});
  }
});

test("abort() rejects a pending flush and close(), and ends pending reads", async () => {
  const [a] = memoryStreamPair({ capacity: 10 });
  const conn = new FramedConn(a, codec);
  conn.write(pattern(1000)); // more than the peer's buffer: it stays unsent
  const flushing = conn.flush();
  const reading = conn.readFrame();
  conn.abort(new Error("enough"));
  await assert.rejects(flushing, ConnectionClosedError);
  await assert.rejects(conn.close(), ConnectionClosedError);
  assert.equal(await reading, null);
  assert.equal(conn.closed, true);
});

test("a peer that resets while close() is sending makes close() reject", async () => {
  const [a, b] = memoryStreamPair({ capacity: 10 });
  const conn = new FramedConn(a, codec);
  conn.write(pattern(1000));
  const closing = conn.close();
  b.close(); // unread bytes: a reset
  await assert.rejects(closing, (error) => error instanceof Error);
});
