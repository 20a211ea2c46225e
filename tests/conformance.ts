// The one suite every adapter must pass, on real loopback sockets. tests/adapters_test.ts runs it
// for each adapter the current runtime has.

import { test } from "node:test";
import assert from "node:assert/strict";
import { createHash } from "node:crypto";
import {
  type Codec,
  connect,
  ConnectionClosedError,
  connectStream,
  FramedConn,
  FramedError,
  FrameReader,
  FrameTooLargeError,
  IncompleteFrameError,
  InvalidLengthError,
  lengthPrefix,
  listenStreams,
  sendAll,
  serve,
  type Server,
  type SocketApi,
} from "../mod.ts";
import { Buffer } from "node:buffer";
import { assertSameBytes, pattern, seededRandom, sleep, waitFor } from "./_helpers.ts";

const SOCKET_TEST = { timeout: 120_000 };
const MiB = 1024 * 1024;

interface EchoServer {
  server: Server;
  port: number;
  errors: unknown[];
}

/** Runs `body` against an echo server of `codec` on `api`, and always shuts the server down. */
export async function withEchoServer<T>(
  api: SocketApi,
  codec: Codec<T>,
  body: (echo: EchoServer) => Promise<void>,
): Promise<void> {
  const errors: unknown[] = [];
  const server = await serve({
    api,
    codec,
    handler: async (conn) => {
      for await (const frame of conn) {
        if (!conn.write(frame)) await conn.flush();
      }
    },
    onError: (error) => errors.push(error),
  });
  try {
    await body({ server, port: server.address.port, errors });
  } finally {
    await server.shutdown();
  }
}

/** Opens a raw connection, sends `bytes`, and reports whether the server then closed it. */
async function sendRawAndExpectClose(
  api: SocketApi,
  port: number,
  bytes: Uint8Array,
  closeWrite: boolean,
) {
  const conn = new FramedConn(await connectStream({ api, port }), lengthPrefix());
  await sendAll(conn.stream, bytes);
  if (closeWrite) await conn.stream.closeWrite();
  // The server must close: we see a clean end of stream or a reset, never a hang.
  const outcome = await conn.readFrame().then(
    (frame) => (frame === null ? "closed" : "frame"),
    () => "reset",
  );
  conn.close();
  assert.notEqual(outcome, "frame", "the server answered bad input with a frame");
}

async function assertStillServes(
  api: SocketApi,
  port: number,
  codec: Codec<Uint8Array> = lengthPrefix(),
): Promise<void> {
  const conn = await connect({ api, port, codec });
  const frame = pattern(1000, 9);
  await conn.writeFrame(frame);
  assertSameBytes(await conn.readFrame(), frame, "echo after bad input");
  conn.close();
}

export function conformance(api: SocketApi, label: string): void {
  test(
    `${label}: frames of 0 B, 1 B, 64 KiB and 8 MiB echo back unchanged`,
    SOCKET_TEST,
    async () => {
      await withEchoServer(api, lengthPrefix(), async ({ port }) => {
        const conn = await connect({ api, port });
        for (const size of [0, 1, 64 * 1024, 8 * MiB]) {
          const frame = pattern(size, size);
          await conn.writeFrame(frame);
          assertSameBytes(await conn.readFrame(), frame, `${size}-byte frame`);
        }
        conn.close();
      });
    },
  );

  test(`${label}: 10,000 pipelined frames come back in order`, SOCKET_TEST, async () => {
    await withEchoServer(api, lengthPrefix(), async ({ port }) => {
      const conn = await connect({ api, port });
      const count = 10_000;
      const received: Uint8Array[] = [];
      const done = conn.onFrame((frame) => {
        received.push(frame);
        if (received.length === count) conn.close();
      });
      for (let i = 0; i < count; i++) conn.write(pattern(i % 300, i));
      await conn.flush();
      await done;
      assert.equal(received.length, count);
      for (let i = 0; i < count; i++) {
        assertSameBytes(received[i]!, pattern(i % 300, i), `frame ${i}`);
      }
    });
  });

  // The cork buffer reuses its chunks once a write is done; an adapter that says "done" while the
  // runtime still holds the buffer gets its frames overwritten in flight. Many frames of random
  // sizes, pipelined as fast as backpressure allows, with a sha256 of everything checked on the
  // receiving side, catch that on every adapter, for connected and for accepted sockets.
  for (const direction of ["client to server", "server to client"] as const) {
    test(
      `${label}: 100,000 pipelined frames of random sizes arrive intact, ${direction}`,
      SOCKET_TEST,
      async () => {
        const count = 100_000;
        const seed = direction === "client to server" ? 8 : 9;
        const errors: unknown[] = [];
        let report!: (tally: FrameTally) => void;
        const serverTally = new Promise<FrameTally>((resolve) => (report = resolve));
        const server = await serve({
          api,
          handler: async (conn) => {
            if (direction === "client to server") report(await receiveRandomFrames(conn, seed));
            else await sendRandomFrames(conn, count, seed);
          },
          onError: (error) => errors.push(error),
        });
        try {
          const conn = await connect({ api, port: server.address.port });
          const sent = direction === "client to server"
            ? await sendRandomFrames(conn, count, seed)
            : await randomFrameTally(count, seed);
          const received = direction === "client to server"
            ? await serverTally
            : await receiveRandomFrames(conn, seed);
          conn.close();
          assert.equal(received.firstBadFrame, "none");
          assert.deepEqual(received, sent);
          assert.deepEqual(errors, []);
        } finally {
          await server.shutdown();
        }
      },
    );
  }

  // A lending reader lets the adapter reuse its read buffer once the next frame is asked for:
  // read too early and a frame changes under its consumer. Each frame is checked after a
  // macrotask, when an adapter that read on would have overwritten it.
  test(
    `${label}: 20,000 frames of random sizes lent by a borrowing FrameReader stay intact until the next read`,
    SOCKET_TEST,
    async () => {
      const count = 20_000;
      const listener = await listenStreams({ api });
      try {
        const accepted = listener.accept();
        const conn = await connect({ api, port: listener.address.port });
        const sending = sendRandomFrames(conn, count, 10);
        const reader = new FrameReader((await accepted)!, lengthPrefix(), { borrow: true });
        const expected = randomFrames(10);
        const hash = createHash("sha256");
        let frames = 0;
        for await (const frame of reader) {
          const want = expected();
          if (frames % 64 === 0) await sleep(0);
          if (Buffer.compare(frame, want) !== 0) assert.fail(`frame ${frames} changed while lent`);
          hash.update(frame);
          frames++;
        }
        const sent = await sending;
        assert.equal(frames, count);
        assert.equal(hash.digest("hex"), sent.sha256);
        await conn.close();
      } finally {
        listener.close();
      }
    },
  );

  test(
    `${label}: a client pipelining 64 MiB through an echo server keeps reading while it writes`,
    SOCKET_TEST,
    async () => {
      // The README's echo handler ignores write()'s return, so the server stops reading while its
      // replies wait. A client that also stopped reading while its requests wait would deadlock.
      const server = await serve({
        api,
        handler: async (conn) => {
          for await (const frame of conn) conn.write(frame);
        },
      });
      try {
        const conn = await connect({ api, port: server.address.port });
        const count = 1024;
        let received = 0;
        const done = conn.onFrame((frame) => {
          assertSameBytes(frame, pattern(64 * 1024, received), `frame ${received}`);
          if (++received === count) void conn.close();
        });
        for (let i = 0; i < count; i++) {
          if (!conn.write(pattern(64 * 1024, i))) await conn.flush();
        }
        await done;
        assert.equal(received, count);
      } finally {
        await server.shutdown();
      }
    },
  );

  test(`${label}: a 64 MiB frame survives partial writes both ways`, SOCKET_TEST, async () => {
    const codec = lengthPrefix({ maxFrameLength: 64 * MiB });
    await withEchoServer(api, codec, async ({ port }) => {
      const conn = await connect({ api, port, codec });
      const frame = pattern(64 * MiB, 3);
      const reply = conn.readFrame();
      await conn.writeFrame(frame);
      assertSameBytes(await reply, frame, "64 MiB frame");
      conn.close();
    });
  });

  test(`${label}: a peer that writes one byte at a time is understood`, SOCKET_TEST, async () => {
    await withEchoServer(api, lengthPrefix(), async ({ port }) => {
      const codec = lengthPrefix();
      const frames = [pattern(5, 1), pattern(0), pattern(17, 2)];
      const wire = new Uint8Array(frames.reduce((n, f) => n + 4 + f.length, 0));
      let at = 0;
      for (const f of frames) {
        wire.set(codec.encode(f), at);
        at += 4 + f.length;
      }
      const conn = new FramedConn(await connectStream({ api, port }), codec);
      for (let i = 0; i < wire.length; i++) {
        await sendAll(conn.stream, wire.subarray(i, i + 1));
        await sleep(1); // with TCP_NODELAY each byte leaves as its own segment
      }
      for (const f of frames) assertSameBytes(await conn.readFrame(), f, "byte-by-byte frame");
      conn.close();
    });
  });

  test(`${label}: a peer reset mid-frame closes only that connection`, SOCKET_TEST, async () => {
    await withEchoServer(api, lengthPrefix(), async ({ port, errors }) => {
      const conn = new FramedConn(await connectStream({ api, port }), lengthPrefix());
      // Leave the server's echo unread, so closing with unread data makes the kernel send RST.
      await conn.writeFrame(pattern(100));
      await sleep(50);
      await sendAll(conn.stream, new Uint8Array([0, 0, 0, 100, 1, 2, 3]));
      await sleep(20);
      conn.close();
      await waitFor(() => errors.length > 0, "the server to report the reset");
      const error = errors[0];
      assert.ok(
        error instanceof ConnectionClosedError || error instanceof IncompleteFrameError,
        `got ${error}`,
      );
      await assertStillServes(api, port);
    });
  });

  const badInputs: [string, Codec<Uint8Array>, Uint8Array, boolean, (e: unknown) => boolean][] = [
    [
      "an oversize length",
      lengthPrefix(),
      new Uint8Array([0xff, 0xff, 0xff, 0xff, 1]),
      false,
      (e) => e instanceof FrameTooLargeError && e.length === 0xffffffff,
    ],
    [
      "a negative i32 length",
      lengthPrefix({ lengthFormat: "i32le" }),
      new Uint8Array([0xff, 0xff, 0xff, 0xff]),
      false,
      (e) => e instanceof InvalidLengthError && e.reason === "negative",
    ],
    [
      "an overlong varint",
      lengthPrefix({ lengthFormat: "varint" }),
      new Uint8Array(11).fill(0x80),
      false,
      (e) => e instanceof InvalidLengthError && e.reason === "varint-too-long",
    ],
    [
      "a truncated frame",
      lengthPrefix(),
      new Uint8Array([0, 0, 0, 10, 1, 2, 3, 4, 5]),
      true,
      (e) => e instanceof IncompleteFrameError && e.received === 9 && e.expected === 14,
    ],
    [
      "random garbage",
      lengthPrefix(),
      Uint8Array.from({ length: 4096 }, seededRandomByte(42)),
      true,
      (e) => e instanceof FramedError,
    ],
  ];
  for (const [what, codec, bytes, closeWrite, isExpected] of badInputs) {
    test(
      `${label}: ${what} closes that connection with a typed error, and the server goes on`,
      SOCKET_TEST,
      async () => {
        await withEchoServer(api, codec, async ({ port, errors }) => {
          await sendRawAndExpectClose(api, port, bytes, closeWrite);
          await waitFor(() => errors.length > 0, "onError");
          assert.ok(isExpected(errors[0]), `unexpected error: ${errors[0]}`);
          await assertStillServes(api, port, codec);
        });
      },
    );
  }

  test(
    `${label}: 200 concurrent connections × 200 frames each lose and reorder nothing`,
    SOCKET_TEST,
    async () => {
      await withEchoServer(api, lengthPrefix(), async ({ port, errors }) => {
        const client = async (id: number) => {
          const conn = await connect({ api, port });
          const received: Uint8Array[] = [];
          const done = conn.onFrame((frame) => {
            received.push(frame);
            if (received.length === 200) conn.close();
          });
          for (let i = 0; i < 200; i++) {
            conn.write(pattern(1 + ((id * 7 + i) % 200), id * 1000 + i));
          }
          await conn.flush();
          await done;
          for (let i = 0; i < 200; i++) {
            assertSameBytes(
              received[i] ?? null,
              pattern(1 + ((id * 7 + i) % 200), id * 1000 + i),
              `client ${id} frame ${i}`,
            );
          }
        };
        await Promise.all(Array.from({ length: 200 }, (_, id) => client(id)));
        assert.deepEqual(errors, []);
      });
    },
  );

  test(
    `${label}: 50 stalled peers holding half a header do not delay another client`,
    SOCKET_TEST,
    async () => {
      await withEchoServer(api, lengthPrefix(), async ({ server, port }) => {
        const stalled = await Promise.all(
          Array.from({ length: 50 }, () => connectStream({ api, port })),
        );
        await Promise.all(stalled.map((s) => sendAll(s, new Uint8Array([0, 0]))));
        await waitFor(() => server.connections === 50, "50 connections to be accepted");
        const conn = await connect({ api, port });
        for (let i = 0; i < 100; i++) {
          const frame = pattern(64, i);
          await conn.writeFrame(frame);
          assertSameBytes(await conn.readFrame(), frame, `round trip ${i}`);
        }
        assert.equal(server.connections, 51, "the stalled peers are still connected");
        conn.close();
        for (const s of stalled) s.close();
      });
    },
  );
}

function seededRandomByte(seed: number): () => number {
  const random = seededRandom(seed);
  return () => Math.floor(random() * 256);
}

/** What one side of {@linkcode sendRandomFrames} / {@linkcode receiveRandomFrames} saw. */
export interface FrameTally {
  frames: number;
  bytes: number;
  sha256: string;
  /** The first frame that differs from what the seed says was sent, or `"none"`. */
  firstBadFrame: string;
}

/**
 * The random frames of `seed`: most under 1 KiB, one in eight up to 70 KiB, so frames share, fill
 * and overflow the cork buffer's chunks. Bodies are random slices of a random pool, so a frame
 * that is shifted or overwritten in flight changes the hash.
 */
function randomFrames(seed: number): () => Uint8Array {
  const random = seededRandom(seed);
  const pool = Uint8Array.from({ length: 256 * 1024 }, () => Math.floor(random() * 256));
  return () => {
    const size = random() < 0.875 ? Math.floor(random() * 1024) : Math.floor(random() * 70 * 1024);
    const start = Math.floor(random() * (pool.length - size));
    return pool.subarray(start, start + size);
  };
}

// Hashes the `count` random frames of `seed`, handing each to `each` first; awaits only the
// promises `each` returns, so frames written in one tick stay in one cork buffer.
async function tallyRandomFrames(
  count: number,
  seed: number,
  each: (frame: Uint8Array) => Promise<void> | undefined = () => undefined,
): Promise<FrameTally> {
  const next = randomFrames(seed);
  const hash = createHash("sha256");
  let bytes = 0;
  for (let i = 0; i < count; i++) {
    const frame = next();
    hash.update(frame);
    bytes += frame.length;
    const waiting = each(frame);
    if (waiting !== undefined) await waiting;
  }
  return { frames: count, bytes, sha256: hash.digest("hex"), firstBadFrame: "none" };
}

/** The tally a correct receiver of `count` frames of `seed` ends with. */
export function randomFrameTally(count: number, seed: number): Promise<FrameTally> {
  return tallyRandomFrames(count, seed);
}

/**
 * Writes `count` random frames of `seed` as fast as `write`'s backpressure allows (awaiting
 * `flush` only when it says so), then half-closes.
 */
export async function sendRandomFrames(
  conn: FramedConn<Uint8Array>,
  count: number,
  seed: number,
): Promise<FrameTally> {
  const tally = await tallyRandomFrames(
    count,
    seed,
    (frame) => (conn.write(frame) ? undefined : conn.flush()),
  );
  await conn.closeWrite();
  return tally;
}

/** Reads frames until the end of the stream, hashing them and checking each against `seed`. */
export async function receiveRandomFrames(
  conn: FramedConn<Uint8Array>,
  seed: number,
): Promise<FrameTally> {
  const expected = randomFrames(seed);
  const hash = createHash("sha256");
  let frames = 0;
  let bytes = 0;
  let firstBadFrame = "none";
  await conn.onFrame((frame) => {
    const want = expected();
    if (firstBadFrame === "none" && Buffer.compare(frame, want) !== 0) {
      firstBadFrame = `frame ${frames} (${frame.length} bytes, expected ${want.length}) differs`;
    }
    hash.update(frame);
    bytes += frame.length;
    frames++;
  });
  return { frames, bytes, sha256: hash.digest("hex"), firstBadFrame };
}
