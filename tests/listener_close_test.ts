// Closing a listener stops accepting and nothing else: connections already accepted stay open
// (TLS ones included), and connections that arrived but were never accepted are closed, not left
// hanging, on every adapter and transport.

import { test } from "node:test";
import assert from "node:assert/strict";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { connect, type ConnectOptions, detectRuntime, listen, type ListenOptions } from "../mod.ts";
import { pattern, sleep, SOCKET_APIS, waitFor } from "./_helpers.ts";
import { tlsFixtures } from "./_tls_fixtures.ts";

type Transport = "tcp" | "tls" | "unix";
const dir = mkdtempSync(join(tmpdir(), "framed-listener-close-"));
let sockets = 0;

function where(transport: Transport): ListenOptions<Uint8Array> {
  if (transport === "unix") return { path: join(dir, `l${sockets++}.sock`) };
  const { cert, key } = tlsFixtures();
  return transport === "tls" ? { port: 0, tls: { cert, key } } : { port: 0 };
}

function to(transport: Transport, address: { port?: number; path?: string }) {
  if (transport === "unix") return { path: address.path! } as ConnectOptions<Uint8Array>;
  const tls = transport === "tls" ? { tls: { ca: tlsFixtures().ca } } : {};
  return { port: address.port!, ...tls } as ConnectOptions<Uint8Array>;
}

for (const api of SOCKET_APIS) {
  for (const transport of ["tcp", "tls", "unix"] as const) {
    const label = `${detectRuntime()} ${api} over ${transport}`;

    test(`${label}: closing a listener leaves the connections it handed out open`, async () => {
      const listener = await listen({ api, ...where(transport) });
      const client = await connect({ api, ...to(transport, listener.address) });
      const server = (await listener.accept())!;
      listener.close();
      await sleep(50);
      await client.writeFrame(pattern(100, 1));
      assert.deepEqual(await server.readFrame(), pattern(100, 1));
      server.write(pattern(50, 2));
      assert.deepEqual(await client.readFrame(), pattern(50, 2));
      await Promise.all([client.close(), server.close()]);
    });

    test(`${label}: closing a listener closes the connections it never handed out`, async () => {
      const listener = await listen({ api, ...where(transport) });
      const clients = await Promise.all(
        [0, 1, 2].map(() => connect({ api, ...to(transport, listener.address) })),
      );
      // Let the adapter take them in (Bun and node:net accept on their own), then close.
      await sleep(200);
      listener.close();
      assert.equal(await listener.accept(), null, "accept() after close() gives null");
      const ends = clients.map(() => false);
      clients.forEach((client, i) => {
        client.readFrame().then(() => (ends[i] = true), () => (ends[i] = true));
      });
      await waitFor(() => ends.every(Boolean), "every client to see its connection end", 10_000);
      for (const client of clients) client.abort();
    });
  }
}

test("the listener tests' socket directory is removed", () => {
  rmSync(dir, { recursive: true, force: true });
});
