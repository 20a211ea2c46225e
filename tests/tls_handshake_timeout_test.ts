// A client's TLS handshake is bounded: a server that accepts TCP and never answers the
// ClientHello fails connect() (and a STARTTLS upgrade) with a TlsError after handshakeTimeout,
// instead of hanging for ever.

import { test } from "node:test";
import assert from "node:assert/strict";
import { connect, connectStream, listenStreams, TlsError } from "../mod.ts";
import { SOCKET_APIS } from "./_helpers.ts";
import { tlsFixtures } from "./_tls_fixtures.ts";

/** A TCP server that accepts, reads nothing and says nothing until closed. */
async function silentServer() {
  const listener = await listenStreams({ port: 0 });
  const held: { close(): void }[] = [];
  void (async () => {
    for (;;) {
      const stream = await listener.accept();
      if (stream === null) return;
      held.push(stream);
    }
  })();
  return {
    port: listener.address.port,
    close() {
      listener.close();
      for (const stream of held) stream.close();
    },
  };
}

for (const api of SOCKET_APIS) {
  test(
    `connect() to a server that never answers the handshake fails after handshakeTimeout (${api})`,
    { timeout: 15_000 },
    async () => {
      const server = await silentServer();
      try {
        const attempt = connect({
          api,
          port: server.port,
          tls: { ca: tlsFixtures().ca, handshakeTimeout: 300 },
        });
        await assert.rejects(attempt, (error) => {
          assert.ok(error instanceof TlsError, `not a TlsError: ${error}`);
          assert.match(
            error.message,
            new RegExp(`127\\.0\\.0\\.1:${server.port} failed: no handshake within 300 ms`),
          );
          return true;
        });
      } finally {
        server.close();
      }
    },
  );

  test(`a STARTTLS upgrade the server never answers fails after handshakeTimeout (${api})`, {
    timeout: 15_000,
  }, async () => {
    const server = await silentServer();
    try {
      const stream = await connectStream({ api, port: server.port });
      const upgrade = stream.startTls!({ ca: tlsFixtures().ca, handshakeTimeout: 300 });
      await assert.rejects(upgrade, (error) => {
        assert.ok(error instanceof TlsError, `not a TlsError: ${error}`);
        assert.match(error.message, /no handshake within 300 ms/);
        return true;
      });
    } finally {
      server.close();
    }
  });
}
