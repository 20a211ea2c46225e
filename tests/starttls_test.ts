// STARTTLS: a plain connection upgraded to TLS by the client, against an independent server
// (Python's ssl, tests/peers/starttls_server.py), on every adapter of the runtime.

import { test } from "node:test";
import assert from "node:assert/strict";
import { join } from "node:path";
import {
  type ByteStream,
  connect,
  FramedConn,
  lengthPrefix,
  memoryStreamPair,
  serve,
  TlsError,
} from "../mod.ts";
import { SOCKET_APIS } from "./_helpers.ts";
import { line, type Running, start } from "./_process.ts";
import { tlsFixtures } from "./_tls_fixtures.ts";

const PEER = join(import.meta.dirname ?? "tests", "peers", "starttls_server.py");
const utf8 = (text: string) => new TextEncoder().encode(text);
const text = (
  bytes: Uint8Array | null,
) => (bytes === null ? null : new TextDecoder().decode(bytes));

async function withStartTlsServer(
  mode: "tls" | "inject" | "refuse",
  body: (port: number) => Promise<void>,
): Promise<void> {
  const { dir } = tlsFixtures();
  const server: Running = start("python3", [
    PEER,
    join(dir, "cert.pem"),
    join(dir, "key.pem"),
    mode,
  ]);
  try {
    const port = Number((await line(server, 0)).split(" ")[1]);
    await body(port);
  } finally {
    server.kill("SIGKILL");
    await server.exited;
  }
}

for (const api of SOCKET_APIS) {
  test(`a client upgrades a plain connection to TLS after the server's go-ahead (${api})`, async () => {
    await withStartTlsServer("tls", async (port) => {
      const plain = await connect({ api, hostname: "127.0.0.1", port });
      assert.equal(plain.tls, undefined);
      await plain.writeFrame(utf8("STARTTLS"));
      assert.equal(text(await plain.readFrame({ pauseAfter: true })), "GO");
      const secure = await plain.startTls({ ca: tlsFixtures().ca, servername: "localhost" });
      assert.deepEqual(secure.tls, { alpnProtocol: null });
      // The old connection is done with; the socket is the TLS one's.
      assert.equal(await plain.readFrame(), null);
      assert.throws(() => plain.write(utf8("x")));
      await plain.close();
      for (let i = 0; i < 200; i++) secure.write(utf8(`frame ${i}`));
      for (let i = 0; i < 200; i++) assert.equal(text(await secure.readFrame()), `frame ${i}`);
      await secure.close();
    });
  });

  test(`an upgrade checks the certificate against the hostname connected to (${api})`, async () => {
    await withStartTlsServer("tls", async (port) => {
      // The certificate names localhost: connecting by that name needs no servername.
      const plain = await connect({ api, hostname: "localhost", port });
      await plain.writeFrame(utf8("STARTTLS"));
      await plain.readFrame({ pauseAfter: true });
      const secure = await plain.startTls({ ca: tlsFixtures().ca });
      await secure.writeFrame(utf8("named"));
      assert.equal(text(await secure.readFrame()), "named");
      await secure.close();
    });
  });

  test(`an upgrade to a server whose certificate does not verify throws a TlsError (${api})`, async () => {
    await withStartTlsServer("tls", async (port) => {
      const plain = await connect({ api, port });
      await plain.writeFrame(utf8("STARTTLS"));
      await plain.readFrame({ pauseAfter: true });
      await assert.rejects(
        plain.startTls({ ca: tlsFixtures().otherCa, servername: "localhost" }),
        (error) => {
          assert.ok(error instanceof TlsError, `not a TlsError: ${error}`);
          assert.match(error.message, new RegExp(`127\\.0\\.0\\.1:${port}`));
          return true;
        },
      );
    });
  });

  test(`plaintext that follows the go-ahead aborts the upgrade with a TlsError (${api})`, async () => {
    await withStartTlsServer("inject", async (port) => {
      const plain = await connect({ api, port });
      await plain.writeFrame(utf8("STARTTLS"));
      assert.equal(text(await plain.readFrame({ pauseAfter: true })), "GO");
      // Wait until the injected frame has surely arrived and been read with the go-ahead.
      await assert.rejects(
        plain.startTls({ ca: tlsFixtures().ca, servername: "localhost" }),
        (error) => {
          assert.ok(error instanceof TlsError, `not a TlsError: ${error}`);
          assert.match(error.message, /after the last plaintext frame/);
          return true;
        },
      );
    });
  });

  test(`a refused upgrade goes on in plaintext after resumeReading() (${api})`, async () => {
    await withStartTlsServer("refuse", async (port) => {
      const plain = await connect({ api, port });
      await plain.writeFrame(utf8("STARTTLS"));
      assert.equal(text(await plain.readFrame({ pauseAfter: true })), "NO");
      plain.resumeReading();
      await plain.writeFrame(utf8("still plain"));
      assert.equal(text(await plain.readFrame()), "still plain");
      await plain.close();
    });
  });

  test(`close() and write() during an upgrade leave the upgrade alone (${api})`, async () => {
    await withStartTlsServer("tls", async (port) => {
      const plain = await connect({ api, hostname: "127.0.0.1", port });
      await plain.writeFrame(utf8("STARTTLS"));
      await plain.readFrame({ pauseAfter: true });
      const upgrading = plain.startTls({ ca: tlsFixtures().ca, servername: "localhost" });
      // The old connection belongs to the upgrade: nothing may follow the plaintext, and
      // closing it neither closes the socket nor sends FIN in the middle of the handshake.
      assert.throws(() => plain.write(utf8("plaintext after STARTTLS")));
      await plain.close();
      const secure = await upgrading;
      await secure.writeFrame(utf8("still fine"));
      assert.equal(text(await secure.readFrame()), "still fine");
      await secure.close();
    });
  });

  test(`startTls() without stopping reading first is refused with a TypeError (${api})`, async () => {
    await withStartTlsServer("refuse", async (port) => {
      const plain = await connect({ api, port });
      await plain.writeFrame(utf8("STARTTLS"));
      assert.equal(text(await plain.readFrame()), "NO");
      await assert.rejects(plain.startTls({ ca: tlsFixtures().ca }), TypeError);
      await plain.close();
    });
  });
}

test("bytes read past the last plaintext frame refuse the upgrade before any handshake", async () => {
  const [a, b] = memoryStreamPair();
  let handshakes = 0;
  // An in-memory stream that claims it could start TLS: only the refusal is under test.
  const upgradable: ByteStream = {
    localAddress: a.localAddress,
    remoteAddress: a.remoteAddress,
    start: (handlers) => a.start(handlers),
    pause: () => a.pause(),
    resume: () => a.resume(),
    write: (bytes) => a.write(bytes),
    closeWrite: () => a.closeWrite(),
    close: () => a.close(),
    startTls: () => {
      handshakes++;
      return Promise.reject(new Error("must not be reached"));
    },
  };
  const conn = new FramedConn(upgradable, lengthPrefix());
  const peer = new FramedConn(b, lengthPrefix());
  peer.write(utf8("GO"));
  peer.write(utf8("injected"));
  await peer.flush();
  assert.equal(text(await conn.readFrame({ pauseAfter: true })), "GO");
  await assert.rejects(conn.startTls(), (error) => {
    assert.ok(error instanceof TlsError, `not a TlsError: ${error}`);
    assert.match(error.message, /after the last plaintext frame/);
    return true;
  });
  assert.equal(handshakes, 0);
  peer.abort();
});

for (const api of SOCKET_APIS) {
  test(`startTls() on a unix socket is refused and leaves the connection usable (${api})`, async () => {
    const path = join(tlsFixtures().dir, `starttls-${api}.sock`);
    const server = await serve({
      api,
      path,
      handler: async (conn) => {
        for await (const frame of conn) conn.write(frame);
      },
    });
    try {
      const conn = await connect({ api, path });
      await assert.rejects(conn.startTls({ ca: tlsFixtures().ca }), TypeError);
      await conn.writeFrame(utf8("after the refusal"));
      assert.equal(text(await conn.readFrame()), "after the refusal");
      await conn.close();
    } finally {
      await server.shutdown();
    }
  });
}

test("an in-memory stream cannot start TLS", async () => {
  const [a, b] = memoryStreamPair();
  const conn = new FramedConn(a, lengthPrefix());
  await assert.rejects(conn.startTls(), TypeError);
  conn.abort();
  b.close();
});
