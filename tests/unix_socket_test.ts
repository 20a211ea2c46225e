// Unix domain sockets as a careless user and a hostile peer meet them, for every socket API of the
// running runtime: addresses that print as unix:PATH, socket files left by dead processes, paths
// that are busy or not sockets at all, bad input, and independent peers (Python's AF_UNIX socket,
// and the other JavaScript runtime's native sockets).

import { after, test } from "node:test";
import assert from "node:assert/strict";
import {
  existsSync,
  lstatSync,
  mkdirSync,
  readdirSync,
  readFileSync,
  writeFileSync,
} from "node:fs";
import { join } from "node:path";
import {
  type Address,
  connect,
  ConnectError,
  connectStream,
  detectRuntime,
  type FramedConn,
  FramedError,
  FrameTooLargeError,
  listen,
  ListenError,
  listenStreams,
  sendAll,
  serve,
  type Server,
  type SocketApi,
  type UnixAddress,
} from "../mod.ts";
import { line, run, start, tempDirs } from "./_process.ts";
import { assertSameBytes, pattern, SOCKET_APIS, waitFor } from "./_helpers.ts";
import {
  otherRuntimes,
  peerArgs,
  peerRuntime,
  requireBinary,
  stopPeer,
} from "./peers/_runtimes.ts";

const T = { timeout: 120_000 };
const runtime = detectRuntime();
const PY_PEER = "tests/peers/socket_peer.py";
const dirs = tempDirs();
after(() => dirs.removeAll());

/** A fresh socket path in a fresh directory (short: sun_path holds 107 bytes on Linux). */
function socketPath(name = "s.sock"): string {
  return join(dirs.make("framed-unix-"), name);
}

const isSocket = (path: string) => existsSync(path) && lstatSync(path).isSocket();

/** An echo server on a unix socket, recording its errors with their connections. */
async function echoServer(api: SocketApi, path: string) {
  const errors: { error: unknown; conn: FramedConn<Uint8Array> | null }[] = [];
  const ends: { local: Address; remote: Address }[] = [];
  const server: Server<UnixAddress> = await serve({
    api,
    path,
    handler: async (conn) => {
      // Kept as they are: printing them is the address test's business.
      ends.push({ local: conn.localAddress, remote: conn.remoteAddress });
      for await (const frame of conn) {
        if (!conn.write(frame)) await conn.flush();
      }
    },
    onError: (error, conn) => errors.push({ error, conn }),
  });
  return { server, errors, ends };
}

async function assertEchoes(conn: FramedConn<Uint8Array>, seed: number, what: string) {
  const frame = pattern(500 + seed, seed);
  await conn.writeFrame(frame);
  assertSameBytes(await conn.readFrame(), frame, what);
}

/** `attempt` must fail with a ListenError naming unix:`path` with `code`. */
async function assertListenRefused(attempt: Promise<unknown>, path: string, code: string) {
  const outcome = await attempt.then(
    (listening) => ({ listening }),
    (error: unknown) => ({ error }),
  );
  assert.ok("error" in outcome, `listening on ${path} succeeded`);
  const error = outcome.error;
  assert.ok(error instanceof ListenError, `a ListenError, not ${error}`);
  assert.ok(error instanceof FramedError);
  assert.equal(error.code, code, error.message);
  assert.equal(error.address.transport, "unix");
  assert.equal(`${error.address}`, `unix:${path}`);
  assert.ok(error.message.startsWith(`listen unix:${path}: `), error.message);
  assert.notEqual(error.cause, undefined);
}

/** `attempt` must fail with a ConnectError naming unix:`path` with `code`. */
async function assertConnectRefused(attempt: Promise<unknown>, path: string, code: string) {
  const outcome = await attempt.then(
    (connected) => ({ connected }),
    (error: unknown) => ({ error }),
  );
  assert.ok("error" in outcome, `connecting to ${path} succeeded`);
  const error = outcome.error;
  assert.ok(error instanceof ConnectError, `a ConnectError, not ${error}`);
  assert.equal(error.code, code, error.message);
  assert.equal(`${error.address}`, `unix:${path}`);
  assert.ok(error.message.startsWith(`connect unix:${path}: `), error.message);
  assert.notEqual(error.cause, undefined);
}

/** Leaves a socket file whose process is gone: Python binds, listens and exits. */
async function staleSocket(path: string): Promise<void> {
  const peer = await run("python3", [PY_PEER, "unix-stale", path]);
  assert.equal(peer.code, 0, peer.stderr);
  assert.ok(isSocket(path), "Python left its socket file behind");
}

for (const api of SOCKET_APIS) {
  const label = `${runtime} ${api === "native" ? "native" : "node:net"}`;

  test(
    `${label}: echoes over a unix socket, and every address prints as unix:PATH`,
    T,
    async () => {
      const path = socketPath();
      const { server, errors, ends } = await echoServer(api, path);
      assert.equal(server.address.transport, "unix");
      assert.equal(server.address.path, path);
      assert.equal(`${server.address}`, `unix:${path}`);
      const conn = await connect({ api, path });
      assert.equal(conn.remoteAddress.transport, "unix");
      assert.equal(`${conn.remoteAddress}`, `unix:${path}`);
      assert.equal(`${conn.localAddress}`, "unix:", "the client end has no name");
      assert.equal(conn.tls, undefined);
      // Many small frames pipelined, then one of 4 MiB: backpressure over a unix socket.
      const sent = Array.from({ length: 300 }, (_, i) => pattern(i * 7, i));
      sent.push(pattern(4 * 1024 * 1024, 99));
      for (const frame of sent) conn.write(frame);
      for (const [i, frame] of sent.entries()) {
        assertSameBytes(await conn.readFrame(), frame, `echo ${i}`);
      }
      await conn.close();
      await server.shutdown();
      assert.equal(ends.length, 1);
      const { local, remote } = ends[0]!;
      assert.deepEqual({ ...local }, { transport: "unix", path }, "the server's end");
      assert.deepEqual({ ...remote }, { transport: "unix", path: "" }, "the client's end, unnamed");
      assert.equal(`${local} ${remote}`, `unix:${path} unix:`);
      assert.deepEqual(errors, []);
    },
  );

  test(`${label}: a socket file left by a process that died is taken over`, T, async () => {
    const path = socketPath();
    await staleSocket(path);
    const { server } = await echoServer(api, path);
    const conn = await connect({ api, path });
    await assertEchoes(conn, 1, "echo on the reclaimed path");
    await conn.close();
    await server.shutdown();
    assert.equal(existsSync(path), false, "removed at shutdown");

    // A listener killed with SIGKILL leaves its file too; listen() takes that over as well.
    const killed = socketPath("killed.sock");
    const peer = start("python3", [PY_PEER, "unix-live", killed]);
    try {
      assert.equal(await line(peer, 0), "listening", peer.stderr());
      peer.kill("SIGKILL");
      await peer.exited;
      assert.ok(isSocket(killed));
      const listener = await listen({ api, path: killed });
      const client = await connect({ api, path: killed });
      const accepted = (await listener.accept())!;
      await client.writeFrame(pattern(10, 2));
      assertSameBytes(await accepted.readFrame(), pattern(10, 2), "through the reclaimed path");
      await Promise.all([client.close(), accepted.close()]);
      listener.close();
    } finally {
      peer.kill("SIGKILL");
    }
  });

  test(
    `${label}: a live socket is refused with ListenError EADDRINUSE naming unix:PATH, and the ` +
      `live listener keeps working`,
    T,
    async () => {
      // Live in this process.
      const path = socketPath();
      const { server } = await echoServer(api, path);
      await assertListenRefused(listen({ api, path }), path, "EADDRINUSE");
      await assertListenRefused(serve({ api, path, handler: () => {} }), path, "EADDRINUSE");
      assert.ok(isSocket(path), "the live socket file is still there");
      const conn = await connect({ api, path });
      await assertEchoes(conn, 3, "the live server still answers");
      await conn.close();
      await server.shutdown();

      // Live in another process, which never accepts: the kernel's backlog answers for it.
      const other = socketPath("python.sock");
      const peer = start("python3", [PY_PEER, "unix-live", other]);
      try {
        assert.equal(await line(peer, 0), "listening", peer.stderr());
        await assertListenRefused(listenStreams({ api, path: other }), other, "EADDRINUSE");
        assert.ok(isSocket(other), "the other process's socket file is left alone");
        const stream = await connectStream({ api, path: other });
        stream.close();
      } finally {
        peer.kill("SIGKILL");
      }
    },
  );

  test(
    `${label}: a regular file or a directory at the path is refused with ListenError, and left ` +
      `untouched`,
    T,
    async () => {
      const file = socketPath("data.txt");
      writeFileSync(file, "precious data\n");
      await assertListenRefused(listen({ api, path: file }), file, "EADDRINUSE");
      assert.equal(readFileSync(file, "utf8"), "precious data\n", "the file is untouched");
      assert.ok(lstatSync(file).isFile());

      const dir = socketPath("a-directory");
      mkdirSync(dir);
      writeFileSync(join(dir, "inside"), "x");
      await assertListenRefused(listen({ api, path: dir }), dir, "EADDRINUSE");
      assert.deepEqual(readdirSync(dir), ["inside"], "the directory is untouched");
    },
  );

  test(`${label}: the socket file is removed when the listener closes`, T, async () => {
    const viaListen = socketPath();
    const listener = await listen({ api, path: viaListen });
    assert.ok(isSocket(viaListen));
    listener.close();
    assert.equal(existsSync(viaListen), false, "listen().close()");

    const viaStreams = socketPath();
    (await listenStreams({ api, path: viaStreams })).close();
    assert.equal(existsSync(viaStreams), false, "listenStreams().close()");

    const viaServe = socketPath();
    const { server } = await echoServer(api, viaServe);
    const conn = await connect({ api, path: viaServe });
    await assertEchoes(conn, 4, "before shutdown");
    await conn.close();
    await server.shutdown();
    assert.equal(existsSync(viaServe), false, "serve().shutdown()");

    const viaUsing = socketPath();
    {
      await using _listener = await listen({ api, path: viaUsing });
      assert.ok(isSocket(viaUsing));
    }
    assert.equal(existsSync(viaUsing), false, "await using");

    // And the path can be listened on again at once.
    const again = await listen({ api, path: viaListen });
    again.close();
  });

  test(`${label}: connecting to a missing path is a ConnectError ENOENT naming it`, T, async () => {
    const path = socketPath("missing.sock");
    await assertConnectRefused(connect({ api, path }), path, "ENOENT");
    await assertConnectRefused(connectStream({ api, path }), path, "ENOENT");
  });

  test(
    `${label}: connecting to a dead process's socket file is a ConnectError ECONNREFUSED`,
    T,
    async () => {
      const path = socketPath();
      await staleSocket(path);
      await assertConnectRefused(connect({ api, path }), path, "ECONNREFUSED");
      assert.ok(isSocket(path), "connecting does not remove it");
    },
  );

  test(
    `${label}: a path too long for a unix socket is a ListenError, and no socket appears at a ` +
      `cut-short path`,
    T,
    async () => {
      const dir = dirs.make("framed-unix-");
      const path = join(dir, `${"x".repeat(120)}.sock`);
      const outcome = await listen({ api, path }).then(
        (listener) => {
          listener.close();
          return null;
        },
        (error: unknown) => error,
      );
      assert.ok(outcome instanceof ListenError, `a ListenError, not ${outcome}`);
      assert.equal(`${outcome.address}`, `unix:${path}`);
      assert.deepEqual(readdirSync(dir), [], "nothing was made under another name");
      const refused = await connect({ api, path }).then((conn) => {
        conn.abort();
        return null;
      }, (error: unknown) => error);
      assert.ok(refused instanceof ConnectError, `a ConnectError, not ${refused}`);
    },
  );

  test(`${label}: a Python AF_UNIX client pipelines frames and gets every echo`, T, async () => {
    const path = socketPath();
    const { server, errors } = await echoServer(api, path);
    const peer = await run("python3", [PY_PEER, "unix-client", path, "300"]);
    assert.equal(peer.code, 0, peer.stderr);
    assert.equal(peer.stdout, "ok 300");
    await server.shutdown();
    assert.deepEqual(errors, []);
  });

  test(
    `${label}: an oversized length header closes only that connection over a unix socket`,
    T,
    async () => {
      const path = socketPath();
      const { server, errors } = await echoServer(api, path);
      const good = await connect({ api, path });
      await assertEchoes(good, 5, "before the bad peer");
      const bad = await connect({ api, path });
      await sendAll(bad.stream, new Uint8Array([0xff, 0xff, 0xff, 0xff, 1, 2, 3]));
      const outcome = await bad.readFrame().then(
        (frame) => (frame === null ? "closed" : "a frame"),
        () => "reset",
      );
      assert.notEqual(outcome, "a frame", "the bad connection was closed, not answered");
      await waitFor(() => errors.length === 1, "onError");
      const { error, conn } = errors[0]!;
      assert.ok(error instanceof FrameTooLargeError, `${error}`);
      assert.equal(error.length, 0xffffffff);
      assert.ok(conn !== null, "reported with its connection");
      await assertEchoes(good, 6, "the other connection is untouched");
      // onError runs before the failed connection is released; it is gone soon after.
      await waitFor(() => server.connections === 1, "only the good connection left");
      bad.abort();
      await good.close();
      await server.shutdown();
    },
  );

  for (const other of otherRuntimes()) {
    const { binary, skip } = peerRuntime(other);

    test(
      `${label} server, ${other} client: framed over a unix socket`,
      { ...T, skip },
      async () => {
        requireBinary(binary);
        const path = socketPath();
        const { server, errors } = await echoServer(api, path);
        const peer = await run(binary, peerArgs(other, ["client", "unix", path, "500"]));
        assert.equal(peer.code, 0, peer.stderr);
        assert.equal(peer.stdout, "ok 500");
        await server.shutdown();
        assert.deepEqual(errors, []);
      },
    );

    test(
      `${other} server, ${label} client: framed over a unix socket`,
      { ...T, skip },
      async () => {
        requireBinary(binary);
        const path = socketPath();
        const peer = start(binary, peerArgs(other, ["server", "unix", path]));
        try {
          assert.equal(await line(peer, 0), `listening on unix:${path}`, peer.stderr());
          const conn = await connect({ api, path });
          assert.equal(`${conn.remoteAddress}`, `unix:${path}`);
          const sent = Array.from({ length: 500 }, (_, i) => pattern((i * 131) % 5000, i));
          for (const frame of sent) conn.write(frame);
          for (const [i, frame] of sent.entries()) {
            assertSameBytes(await conn.readFrame(), frame, `echo ${i}`);
          }
          await conn.close();
          assert.equal(await line(peer, 1), "conn alpn=none frames=500");
          assert.equal(await stopPeer(peer), 0, peer.stderr());
          assert.equal(peer.lines[2], "served 500");
          assert.equal(existsSync(path), false, `the ${other} server removed its socket file`);
        } finally {
          peer.kill("SIGKILL");
        }
      },
    );
  }
}
