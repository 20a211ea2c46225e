// Cancellation and timeouts: connect({ signal, timeout }), readFrame({ signal }),
// listen({ signal }) and serve({ onListen }).
//
// A connect that hangs on 127.0.0.1: a listener whose accept queue is full. Linux drops a SYN
// while the queue is full (tcp_conn_request: sk_acceptq_is_full → drop), so the client keeps
// retransmitting and connect() never settles. The listener lives in a Node child whose event loop
// is blocked (Atomics.wait), so nothing is ever accepted; with `backlog: 1` two connections fill
// the queue (the kernel admits while queued <= backlog). Node is used for the child in every
// runtime: Bun's node:net ignores `backlog` (1.4.5, probed: every connect succeeded), and Node
// is on every machine that ran `npm ci`.

import { test } from "node:test";
import assert from "node:assert/strict";
import net from "node:net";
import {
  connect,
  ConnectError,
  connectStream,
  ConnectTimeoutError,
  detectRuntime,
  FramedConn,
  lengthPrefix,
  listen,
  listenStreams,
  memoryStreamPair,
  type NetAddress,
  serve,
} from "../mod.ts";
import { SOCKET_APIS, utf8 } from "./_helpers.ts";
import { line, start } from "./_process.ts";
import { tlsFixtures } from "./_tls_fixtures.ts";

const T = { timeout: 20_000 };

const BLACKHOLE = `
import net from "node:net";
const server = net.createServer();
server.listen({ host: "127.0.0.1", port: 0, backlog: 1 }, () => {
  console.log(server.address().port);
  // Never return to the event loop: nothing is accepted, the queue stays full. 30 s at most.
  Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, 30_000);
});
`;

/** A port on 127.0.0.1 where a connect hangs: its listener's accept queue is full. */
async function blackhole(): Promise<{ port: number; close(): void }> {
  const child = start("node", ["--input-type=module", "-e", BLACKHOLE]);
  const fillers: net.Socket[] = [];
  const close = () => {
    for (const socket of fillers) socket.destroy();
    child.kill("SIGKILL");
  };
  try {
    const port = Number(await line(child, 0, 10_000));
    for (let i = 0; i < 2; i++) {
      const socket = net.connect({ host: "127.0.0.1", port });
      fillers.push(socket);
      await new Promise<void>((resolve, reject) => {
        socket.once("connect", resolve);
        socket.once("error", reject);
      });
    }
    return { port, close };
  } catch (error) {
    close();
    throw error;
  }
}

/** A TCP server that accepts, reads nothing and says nothing; `ended` counts peers that left. */
async function silentServer() {
  const listener = await listenStreams({ port: 0 });
  const held: { close(): void }[] = [];
  let accepted = 0;
  let ended = 0;
  const wakers: (() => void)[] = [];
  const wake = () => {
    for (const w of wakers.splice(0)) w();
  };
  void (async () => {
    for (;;) {
      const stream = await listener.accept();
      if (stream === null) return;
      held.push(stream);
      accepted++;
      wake();
      stream.start({
        data: () => false,
        end: () => (ended++, wake()),
        error: () => (ended++, wake()),
      });
    }
  })();
  const until = async (what: string, check: () => boolean) => {
    const deadline = Date.now() + 10_000;
    while (!check()) {
      assert.ok(Date.now() < deadline, `timed out waiting until ${what}`);
      await new Promise<void>((resolve) => {
        wakers.push(resolve);
        setTimeout(resolve, 100);
      });
    }
  };
  return {
    port: listener.address.port,
    accepted: () => until("a client connected", () => accepted > 0),
    ended: () => until("the client's socket closed", () => ended > 0),
    close() {
      listener.close();
      for (const stream of held) stream.close();
    },
  };
}

function assertTimedOut(error: unknown, port: number, ms: number): true {
  assert.ok(error instanceof ConnectTimeoutError, `not a ConnectTimeoutError: ${error}`);
  assert.ok(error instanceof ConnectError, "a ConnectTimeoutError is a ConnectError");
  assert.equal(error.code, "ETIMEDOUT");
  assert.equal(error.timeout, ms);
  assert.equal(error.message, `connect 127.0.0.1:${port}: timed out after ${ms} ms`);
  assert.equal((error.address as NetAddress).port, port);
  return true;
}

/** Frames over a real connection of `api`: the client end, and the accepted server end. */
async function pair(api: (typeof SOCKET_APIS)[number]) {
  const listener = await listen({ api, port: 0 });
  const client = await connect({ api, port: listener.address.port });
  const server = (await listener.accept())!;
  listener.close();
  return { client, server };
}

for (const api of SOCKET_APIS) {
  test(
    `connect() with a timeout to a listener whose backlog is full fails with ConnectTimeoutError naming the address (${api})`,
    T,
    async () => {
      const hole = await blackhole();
      try {
        await assert.rejects(
          connect({ api, port: hole.port, timeout: 200 }),
          (error) => assertTimedOut(error, hole.port, 200),
        );
        await assert.rejects(
          connectStream({ api, port: hole.port, timeout: 150 }),
          (error) => assertTimedOut(error, hole.port, 150),
        );
      } finally {
        hole.close();
      }
    },
  );

  test(
    `connect() with tls and a timeout fails with ConnectTimeoutError when the server never answers the handshake (${api})`,
    T,
    async () => {
      const server = await silentServer();
      try {
        // The handshake's own limit (10 s by default) is far away: the timeout covers it.
        await assert.rejects(
          connect({ api, port: server.port, tls: { ca: tlsFixtures().ca }, timeout: 300 }),
          (error) => assertTimedOut(error, server.port, 300),
        );
      } finally {
        server.close();
      }
    },
  );

  test(
    `connect() with an already aborted signal rejects with the signal's reason (${api})`,
    T,
    async () => {
      const server = await silentServer();
      try {
        const reason = new Error("changed my mind");
        await assert.rejects(
          connect({ api, port: server.port, signal: AbortSignal.abort(reason) }),
          (error) => error === reason,
        );
        await assert.rejects(
          connectStream({ api, port: server.port, signal: AbortSignal.abort(reason) }),
          (error) => error === reason,
        );
      } finally {
        server.close();
      }
    },
  );

  test(
    `aborting the signal while connecting rejects with the signal's reason (${api})`,
    T,
    async () => {
      const hole = await blackhole();
      try {
        const controller = new AbortController();
        const reason = new Error("user pressed cancel");
        // With a timeout too: the abort wins, and its reason is what rejects.
        const attempt = connect({
          api,
          port: hole.port,
          signal: controller.signal,
          timeout: 10_000,
        });
        setTimeout(() => controller.abort(reason), 100);
        await assert.rejects(attempt, (error) => error === reason);
      } finally {
        hole.close();
      }
    },
  );

  test(
    `aborting the signal during the TLS handshake rejects with its reason and closes the socket (${api})`,
    T,
    async () => {
      const server = await silentServer();
      try {
        const controller = new AbortController();
        const attempt = connect({
          api,
          port: server.port,
          // Far beyond the wait for the close below: only the abort can close it in time.
          tls: { ca: tlsFixtures().ca, handshakeTimeout: 60_000 },
          signal: controller.signal,
        });
        await server.accepted();
        controller.abort();
        await assert.rejects(
          attempt,
          (error) => error instanceof Error && error.name === "AbortError",
        );
        // Deno leaves the TCP socket of a Deno.TlsConn closed mid-handshake open (the peer sees
        // no FIN: tests/repros/deno_tls_close_leak.ts, likely denoland/deno#14547).
        if (!(api === "native" && detectRuntime() === "deno")) await server.ended();
      } finally {
        server.close();
      }
    },
  );

  test(
    `an aborted readFrame() gives up its place, so the next frame goes to the next reader (${api})`,
    T,
    async () => {
      const { client, server } = await pair(api);
      try {
        const controller = new AbortController();
        const reason = new Error("stop waiting");
        const first = server.readFrame({ signal: controller.signal });
        const second = server.readFrame();
        controller.abort(reason);
        await assert.rejects(first, (error) => error === reason);
        await client.writeFrame(utf8("A"));
        await client.writeFrame(utf8("B"));
        assert.equal(new TextDecoder().decode((await second)!), "A", "frame A was lost");

        assert.equal(new TextDecoder().decode((await server.readFrame())!), "B");

        // No other reader: the frame waits in the queue for the next readFrame().
        const alone = new AbortController();
        const gaveUp = server.readFrame({ signal: alone.signal });
        alone.abort();
        await assert.rejects(
          gaveUp,
          (error) => error instanceof Error && error.name === "AbortError",
        );
        await client.writeFrame(utf8("C"));
        assert.equal(new TextDecoder().decode((await server.readFrame())!), "C");

        // Already aborted: rejects at once and takes no queued frame.
        await client.writeFrame(utf8("D"));
        const queued = server.readFrame();
        assert.equal(new TextDecoder().decode((await queued)!), "D");
        await client.writeFrame(utf8("E"));
        await assert.rejects(
          server.readFrame({ signal: AbortSignal.abort(reason) }),
          (e) => e === reason,
        );
        assert.equal(new TextDecoder().decode((await server.readFrame())!), "E");
      } finally {
        await Promise.all([client.close(), server.close()]);
      }
    },
  );

  test(
    `listen({ signal }) ends a for await loop when the signal is aborted (${api})`,
    T,
    async () => {
      const controller = new AbortController();
      const listener = await listen({ api, port: 0, signal: controller.signal });
      const client = await connect({ api, port: listener.address.port });
      let served = 0;
      for await (const conn of listener) {
        served++;
        await client.writeFrame(utf8("hi"));
        assert.equal(new TextDecoder().decode((await conn.readFrame())!), "hi");
        controller.abort();
        // The loop goes on to accept(), which the abort has ended.
        void conn.close();
      }
      assert.equal(served, 1);
      assert.equal(await listener.accept(), null, "accept() after the abort returns null");
      await client.close();

      const reason = new Error("never listen");
      await assert.rejects(
        listen({ api, port: 0, signal: AbortSignal.abort(reason) }),
        (e) => e === reason,
      );
    },
  );

  test(
    `serve({ onListen }) is called once with the real address before serve() resolves (${api})`,
    T,
    async () => {
      const heard: NetAddress[] = [];
      await using server = await serve({
        api,
        port: 0,
        onListen: (address) => void heard.push(address),
        handler: async (conn) => {
          for await (const frame of conn) conn.write(frame);
        },
      });
      assert.equal(heard.length, 1, "onListen is called exactly once");
      const [address] = heard;
      assert.notEqual(address!.port, 0, "the real port, not the 0 asked for");
      assert.equal(`${address}`, `${server.address}`);
      await using client = await connect({ api, port: address!.port });
      await client.writeFrame(utf8("ping"));
      assert.equal(new TextDecoder().decode((await client.readFrame())!), "ping");
    },
  );

  test(
    `serve() rejects with the error onListen throws, and stops listening (${api})`,
    T,
    async () => {
      let port = 0;
      const oops = new Error("onListen failed");
      await assert.rejects(
        serve({
          api,
          port: 0,
          onListen: (address) => {
            port = address.port;
            throw oops;
          },
          handler: () => {},
        }),
        (error) => error === oops,
      );
      assert.notEqual(port, 0);
      await assert.rejects(connectStream({ api, port }), ConnectError, "nobody listens any more");
    },
  );
}

test("readFrame({ signal }) on a FramedConn over any ByteStream keeps the frame for the next reader", async () => {
  const [a, b] = memoryStreamPair();
  const sender = new FramedConn(a, lengthPrefix());
  const receiver = new FramedConn(b, lengthPrefix());
  const controller = new AbortController();
  const first = receiver.readFrame({ signal: controller.signal });
  const second = receiver.readFrame();
  controller.abort();
  await assert.rejects(first);
  await sender.writeFrame(utf8("kept"));
  await sender.writeFrame(utf8("next"));
  assert.equal(new TextDecoder().decode((await second)!), "kept");
  sender.abort();
  receiver.abort();
});
