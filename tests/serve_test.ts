// serve() and FramedConn behaviour on real loopback sockets (the runtime's native adapter).

import { test } from "node:test";
import assert from "node:assert/strict";
import {
  connect,
  connectStream,
  delimiter,
  FramedConn,
  FrameTooLargeError,
  IdleTimeoutError,
  jsonHeader,
  lengthPrefix,
  sendAll,
  serve,
} from "../mod.ts";
import { withEchoServer } from "./conformance.ts";
import { assertSameBytes, pattern, sleep, utf8, waitFor } from "./_helpers.ts";

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
  await withEchoServer({ api: "native", transport: "tcp" }, codec, async ({ to }) => {
    const conn = await connect({ ...to, codec });
    await conn.writeFrame({ header: { file_name: "a.txt", md5: "x" }, body: utf8("hello") });
    const reply = await conn.readFrame();
    assert.deepEqual(reply?.header, { data_size: 5, file_name: "a.txt", md5: "x" });
    assert.equal(text(reply!.body), "hello");
    conn.close();
  });
});

test("delimited records echo over a real socket", T, async () => {
  const codec = delimiter({ delimiter: "\r\n" });
  await withEchoServer({ api: "native", transport: "tcp" }, codec, async ({ to }) => {
    const conn = await connect({ ...to, codec });
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

test(
  "onError gets the bad frame's error, not the write that could no longer be sent",
  T,
  async () => {
    const errors: unknown[] = [];
    const server = await serve({
      handler: async (conn) => {
        for await (const frame of conn) conn.write(frame);
      },
      onError: (error) => errors.push(error),
    });
    const conn = new FramedConn(
      await connectStream({ port: server.address.port }),
      lengthPrefix(),
    );
    // Three good frames, then a length over the limit, in one write.
    const good = lengthPrefix().encode(pattern(10));
    await sendAll(conn.stream, new Uint8Array([...good, ...good, ...good, 0xff, 0xff, 0xff, 0xff]));
    await waitFor(() => errors.length > 0, "onError");
    assert.ok(errors[0] instanceof FrameTooLargeError, `got ${errors[0]}`);
    await conn.close();
    await server.shutdown();
  },
);
