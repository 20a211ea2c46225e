// Closing, as a careless user does it: write then close at once, close twice, close while the peer
// keeps sending, abort, and `await using`. Nothing written may be dropped without an error. Real
// loopback sockets, on the runtime's native adapter and on node:net.

import { test } from "node:test";
import assert from "node:assert/strict";
import {
  connect,
  ConnectionClosedError,
  connectStream,
  detectRuntime,
  FramedConn,
  FramedError,
  lengthPrefix,
  listen,
  listenStreams,
  sendAll,
  serve,
  type SocketApi,
} from "../mod.ts";
import { assertSameBytes, pattern, sleep, SOCKET_APIS, waitFor } from "./_helpers.ts";

const T = { timeout: 60_000 };
const MiB = 1024 * 1024;
const runtime = detectRuntime();

interface Received {
  frames: Uint8Array[];
  /** How the stream ended: "end" for a clean end of stream, else the error. */
  ending: Promise<string>;
}

/** A server that records every frame of its first connection and how that connection ended. */
async function recordingServer(api: SocketApi, maxFrameLength = 16 * MiB) {
  const frames: Uint8Array[] = [];
  let ended!: (how: string) => void;
  const ending = new Promise<string>((resolve) => (ended = resolve));
  const server = await serve({
    api,
    codec: lengthPrefix({ maxFrameLength }),
    handler: async (conn) => {
      try {
        for await (const frame of conn) frames.push(frame);
        ended("end");
      } catch (error) {
        ended(String(error));
      }
    },
    onError: () => {},
  });
  return { server, port: server.address.port, received: { frames, ending } as Received };
}

for (const api of SOCKET_APIS) {
  const label = `${runtime} ${api === "native" ? "native" : "node:net"}`;

  test(`${label}: write() then close() without awaiting delivers every frame`, T, async () => {
    const { server, port, received } = await recordingServer(api);
    const conn = await connect({ api, port });
    conn.write(pattern(10, 1));
    conn.write(pattern(20, 2));
    void conn.close(); // the careless way: not awaited, right after write
    assert.equal(await received.ending, "end");
    assert.equal(received.frames.length, 2);
    assertSameBytes(received.frames[0]!, pattern(10, 1), "first frame");
    assertSameBytes(received.frames[1]!, pattern(20, 2), "second frame");
    await server.shutdown();
  });

  test(
    `${label}: close() right after a 5 MB write sends all of it, then a clean end`,
    T,
    async () => {
      const { server, port, received } = await recordingServer(api);
      const conn = await connect({ api, port });
      const big = pattern(5_000_000, 5);
      conn.write(big);
      await conn.close();
      assert.equal(await received.ending, "end");
      assert.equal(received.frames.length, 1);
      assertSameBytes(received.frames[0]!, big, "5 MB frame");
      await server.shutdown();
    },
  );

  test(`${label}: close() is idempotent, and write() after it throws`, T, async () => {
    const { server, port, received } = await recordingServer(api);
    const conn = await connect({ api, port });
    conn.write(pattern(3));
    const first = conn.close();
    assert.equal(conn.close(), first, "every call returns the same promise");
    await first;
    await conn.close();
    assert.equal(conn.closed, true);
    assert.throws(() => conn.write(pattern(1)), ConnectionClosedError);
    assert.equal(await conn.readFrame(), null);
    assert.equal(await received.ending, "end");
    await server.shutdown();
  });

  test(`${label}: close() rejects when the peer resets before the frames are sent`, T, async () => {
    // A peer that never reads, then closes with our bytes unread: the kernel sends a reset.
    const listener = await listenStreams({ api });
    const conn = await connect({ api, port: listener.address.port });
    const peer = (await listener.accept())!;
    for (let i = 0; i < 8; i++) conn.write(pattern(8 * MiB, i));
    const closing = conn.close();
    await sleep(100); // let the kernel buffers on both sides fill
    peer.close();
    await assert.rejects(closing, (error) => error instanceof FramedError);
    listener.close();
  });

  test(
    `${label}: abort() drops unsent frames with an error and ends pending reads`,
    T,
    async () => {
      const listener = await listenStreams({ api });
      const conn = await connect({ api, port: listener.address.port });
      const peer = (await listener.accept())!;
      for (let i = 0; i < 8; i++) conn.write(pattern(8 * MiB, i));
      const flushing = conn.flush();
      const reading = conn.readFrame();
      conn.abort(new Error("giving up"));
      await assert.rejects(flushing, ConnectionClosedError);
      assert.equal(await reading, null);
      await assert.rejects(conn.close(), ConnectionClosedError, "close() after abort() says so");
      conn.abort(); // idempotent
      peer.close();
      listener.close();
    },
  );

  test(
    `${label}: await using sends what was written and closes at the end of the scope`,
    T,
    async () => {
      const { server, port, received } = await recordingServer(api);
      {
        await using conn = await connect({ api, port });
        conn.write(pattern(100, 3));
      }
      assert.equal(await received.ending, "end");
      assert.equal(received.frames.length, 1);
      assertSameBytes(received.frames[0]!, pattern(100, 3), "frame");
      await server.shutdown();
    },
  );

  test(`${label}: await using shuts down a server and closes a listener`, T, async () => {
    let port: number;
    {
      await using server = await serve({ api, handler: () => {} });
      port = server.address.port;
      await using listener = await listen({ api });
      const accepted = listener.accept();
      const conn = await connect({ api, port: listener.address.port });
      await Promise.all([(await accepted)!.close(), conn.close()]);
    }
    await assert.rejects(connect({ api, port }), "the server no longer listens");
  });

  test(
    `${label}: a peer that keeps sending after the server closed still gets every reply`,
    T,
    async () => {
      // The server answers the first frame with 8 MiB and returns while the client is still
      // sending. Releasing the socket then, with the client's bytes unread, would make the kernel
      // reset the connection and throw away the part of the reply not yet delivered.
      const reply = pattern(8 * MiB, 4);
      const server = await serve({
        api,
        codec: lengthPrefix({ maxFrameLength: 16 * MiB }),
        handler: async (conn) => {
          await conn.readFrame();
          conn.write(reply);
        },
        onError: () => {},
      });
      const conn = await connect({
        api,
        port: server.address.port,
        codec: lengthPrefix({ maxFrameLength: 16 * MiB }),
      });
      conn.write(pattern(1));
      let replied = false;
      const replying = conn.readFrame().finally(() => (replied = true));
      for (let i = 0; i < 500 && !replied; i++) {
        // Keep sending while the reply arrives; stop at the server's end of stream.
        if (!conn.write(pattern(16 * 1024, i))) break;
        await conn.flush().catch(() => {});
        await sleep(1);
      }
      assertSameBytes(await replying, reply, "the 8 MiB reply");
      conn.abort();
      await server.shutdown();
    },
  );

  test(`${label}: replies written before a bad frame still reach the peer`, T, async () => {
    const server = await serve({
      api,
      handler: (conn) => conn.onFrame((frame) => conn.write(frame)),
      onError: () => {},
    });
    const conn = new FramedConn(
      await connectStream({ api, port: server.address.port }),
      lengthPrefix(),
    );
    // One good frame, then a length over the limit, in one write.
    await sendAll(conn.stream, new Uint8Array([0, 0, 0, 2, 7, 8, 0xff, 0xff, 0xff, 0xff]));
    assert.deepEqual(await conn.readFrame(), new Uint8Array([7, 8]));
    assert.equal(await conn.readFrame(), null, "then a clean end");
    await conn.close();
    await server.shutdown();
  });

  test(`${label}: onFrame() while a for await loop waits throws a TypeError`, T, async () => {
    const { server, port } = await recordingServer(api);
    const conn = await connect({ api, port });
    const waiting = (async () => {
      for await (const _ of conn) break;
    })();
    await sleep(10);
    assert.throws(() => conn.onFrame(() => {}), TypeError);
    conn.abort();
    await waiting;
    await server.shutdown();
  });
}

test(
  "close() resolves only after the peer has ended its side, within lingerTimeout",
  T,
  async () => {
    const listener = await listenStreams({});
    const conn = await connect({ port: listener.address.port, lingerTimeout: 60_000 });
    const peer = (await listener.accept())!;
    let closed = false;
    const closing = conn.close().then(() => (closed = true));
    await sleep(100);
    assert.equal(closed, false, "still waiting for the peer's end of stream");
    await peer.closeWrite();
    await closing;
    peer.close();
    listener.close();
    await waitFor(() => closed, "close() to resolve");
  },
);
