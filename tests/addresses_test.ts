// Addresses and the errors that name them, on real loopback sockets, on the runtime's native API
// and on node:net: `${conn.remoteAddress}` prints as host:port, a refused connect says where it
// was refused, and a port in use says which one.

import { test } from "node:test";
import assert from "node:assert/strict";
import {
  bindDatagram,
  connect,
  ConnectError,
  connectStream,
  detectRuntime,
  FramedError,
  listen,
  ListenError,
  listenStreams,
  type NetAddress,
  type SocketApi,
} from "../mod.ts";
import { SOCKET_APIS } from "./_helpers.ts";

const T = { timeout: 60_000 };
const runtime = detectRuntime();

// A port that was just free and nobody listens on: bound, then released.
async function closedPort(api: SocketApi, hostname = "127.0.0.1"): Promise<number> {
  const listener = await listenStreams({ api, hostname, port: 0 });
  const port = listener.address.port;
  listener.close();
  return port;
}

// IPv6 loopback is missing on some machines and containers: those skip the [::1] tests.
async function ipv6Missing(): Promise<string | false> {
  try {
    const listener = await listenStreams({ hostname: "::1", port: 0 });
    listener.close();
    return false;
  } catch (error) {
    const reason = `this machine has no IPv6 loopback (::1): ${(error as Error).message}`;
    console.log(`skipping the [::1] tests: ${reason}`);
    return reason;
  }
}
const noIpv6 = await ipv6Missing();

function assertRefused(error: unknown, hostname: string, port: number, printed: string): boolean {
  assert.ok(error instanceof ConnectError, `not a ConnectError: ${error}`);
  assert.ok(error instanceof FramedError);
  assert.equal(error.message, `connect ${printed}: connection refused`);
  assert.equal(error.code, "ECONNREFUSED");
  assert.deepEqual(error.address, { transport: "tcp", hostname, port });
  assert.ok(error.cause instanceof Error, "the runtime's error is kept as cause");
  assert.equal((error.cause as { code?: unknown }).code, "ECONNREFUSED");
  return true;
}

for (const api of SOCKET_APIS) {
  const on = `(${runtime} ${api})`;

  test(`a refused connect fails with a ConnectError that names the address ${on}`, T, async () => {
    const port = await closedPort(api);
    await assert.rejects(
      connectStream({ api, port }),
      (error) => assertRefused(error, "127.0.0.1", port, `127.0.0.1:${port}`),
    );
    await assert.rejects(
      connect({ api, port }),
      (error) => assertRefused(error, "127.0.0.1", port, `127.0.0.1:${port}`),
    );
  });

  test(
    `a refused connect to [::1] names the address in brackets ${on}`,
    { ...T, skip: noIpv6 },
    async () => {
      const port = await closedPort(api, "::1");
      await assert.rejects(
        connectStream({ api, hostname: "::1", port }),
        (error) => assertRefused(error, "::1", port, `[::1]:${port}`),
      );
    },
  );

  test(`a host that does not resolve fails with a ConnectError naming it ${on}`, T, async () => {
    // .invalid never resolves (RFC 6761); which errno the resolver gives varies, so only the shape
    // is checked here.
    await assert.rejects(
      connectStream({ api, hostname: "no-such-host.invalid", port: 9 }),
      (error) => {
        assert.ok(error instanceof ConnectError, `not a ConnectError: ${error}`);
        assert.match(error.message, /^connect no-such-host\.invalid:9: /);
        assert.ok(error.cause instanceof Error);
        return true;
      },
    );
  });

  test(`listening on a port in use fails with a ListenError that names it ${on}`, T, async () => {
    const first = await listenStreams({ api, port: 0 });
    const port = first.address.port;
    try {
      for (const attempt of [listenStreams({ api, port }), listen({ api, port })]) {
        await assert.rejects(attempt, (error) => {
          assert.ok(error instanceof ListenError, `not a ListenError: ${error}`);
          assert.ok(error instanceof FramedError);
          assert.equal(error.message, `listen 127.0.0.1:${port}: address in use`);
          assert.equal(error.code, "EADDRINUSE");
          assert.deepEqual(error.address, { transport: "tcp", hostname: "127.0.0.1", port });
          assert.equal((error.cause as { code?: unknown }).code, "EADDRINUSE");
          return true;
        });
      }
    } finally {
      first.close();
    }
  });

  test(`connection and listener addresses print as host:port ${on}`, T, async () => {
    const listener = await listen({ api, port: 0 });
    const port = listener.address.port;
    const client = await connect({ api, port });
    const server = await listener.accept();
    try {
      assert.ok(server !== null);
      assert.equal(`${listener.address}`, `127.0.0.1:${port}`);
      assert.equal(`${client.remoteAddress}`, `127.0.0.1:${port}`);
      assert.equal(`${server.localAddress}`, `127.0.0.1:${port}`);
      assert.equal(
        `${server.remoteAddress}`,
        `127.0.0.1:${(client.localAddress as NetAddress).port}`,
      );
      assert.equal(`${client.localAddress}`, `${server.remoteAddress}`);
      // Still plain data: deep-equal to a literal and JSON without the printer.
      assert.deepEqual(client.remoteAddress, { transport: "tcp", hostname: "127.0.0.1", port });
      assert.equal(
        JSON.stringify(listener.address),
        `{"transport":"tcp","hostname":"127.0.0.1","port":${port}}`,
      );
    } finally {
      client.close();
      server?.close();
      listener.close();
    }
  });

  test(`IPv6 addresses print in brackets ${on}`, { ...T, skip: noIpv6 }, async () => {
    const listener = await listen({ api, hostname: "::1", port: 0 });
    const port = listener.address.port;
    const client = await connect({ api, hostname: "::1", port });
    try {
      assert.equal(`${listener.address}`, `[::1]:${port}`);
      assert.equal(`${client.remoteAddress}`, `[::1]:${port}`);
      assert.match(`${client.localAddress}`, /^\[::1\]:\d+$/);
    } finally {
      client.close();
      listener.close();
    }
  });

  test(`UDP addresses print as host:port ${on}`, T, async () => {
    const a = await bindDatagram({ api });
    const b = await bindDatagram({ api });
    try {
      assert.equal(`${a.address}`, `127.0.0.1:${a.address.port}`);
      await b.send(new Uint8Array([1]), a.address);
      const datagram = await a.receive({ signal: AbortSignal.timeout(5_000) });
      assert.equal(`${datagram?.remote}`, `127.0.0.1:${b.address.port}`);
    } finally {
      a.close();
      b.close();
    }
  });
}
