// A peer that connects and resets before the server accepts it must cost the server nothing: no
// error report, no pause, and above all no end of the accept loop. Deno's native listener throws
// NotConnected for such a peer; serve() used to sleep 100 ms per error and listen()'s iterator
// used to end with it.
//
// The reset peers come from a python3 child run with spawnSync: it blocks this process's event
// loop, so every peer is in the backlog and reset (SO_LINGER {1, 0}) before anyone can accept it,
// deterministically, as on a busy server.

import { test } from "node:test";
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import {
  type ByteListener,
  connect,
  type FramedConn,
  lengthPrefix,
  listen,
  netAddress,
  serve,
  serveListener,
} from "../mod.ts";
import { SOCKET_APIS, utf8 } from "./_helpers.ts";

const T = { timeout: 120_000 };
const ROUNDS = 4;
const RESETS_PER_ROUND = 64;
const FRAMES_PER_ROUND = 8;

const RESET_PEERS = `
import socket, struct, sys
port, count = int(sys.argv[1]), int(sys.argv[2])
peers = [socket.create_connection(("127.0.0.1", port)) for _ in range(count)]
for peer in peers:
    # SO_LINGER {on, 0 s}: close() sends RST instead of FIN.
    peer.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    peer.close()
`;

/** Connects `count` peers and resets them all before this process can run its event loop again. */
function resetPeers(port: number, count: number): void {
  const result = spawnSync("python3", ["-c", RESET_PEERS, String(port), String(count)], {
    encoding: "utf8",
    timeout: 30_000,
  });
  assert.equal(result.status, 0, `python3 reset peers failed: ${result.stderr}`);
}

/** Settles with `promise`, or fails after `ms` (or as soon as `failure` rejects). */
async function bounded<T>(
  promise: Promise<T>,
  what: string,
  failure?: Promise<never>,
  ms = 15_000,
): Promise<T> {
  let timer: ReturnType<typeof setTimeout> | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`timed out: ${what}`)), ms);
  });
  try {
    return await Promise.race([promise, timeout, ...(failure ? [failure] : [])]);
  } finally {
    clearTimeout(timer);
  }
}

/** Closes without caring whether close() returns a promise or what it settles to. */
const closeQuietly = (conn: FramedConn<Uint8Array>) => {
  Promise.resolve(conn.close()).catch(() => {});
};

async function roundTrip(conn: FramedConn<Uint8Array>, label: string, failure?: Promise<never>) {
  const sent = Array.from({ length: FRAMES_PER_ROUND }, (_, i) => `${label} #${i}`);
  for (const text of sent) conn.write(utf8(text));
  for (const text of sent) {
    const frame = await bounded(conn.readFrame(), `the echo of "${text}"`, failure);
    assert.ok(frame !== null, `the server closed the connection before echoing "${text}"`);
    assert.equal(new TextDecoder().decode(frame), text);
  }
}

for (const api of SOCKET_APIS) {
  test(
    `serve() keeps answering while peers reset before accept, and reports none of them (${api})`,
    T,
    async () => {
      const acceptErrors: unknown[] = [];
      const server = await serve({
        api,
        handler: async (conn) => {
          for await (const frame of conn) conn.write(frame);
        },
        // Errors of accepted connections (a reset peer that was accepted) are fine; accept errors
        // (conn === null) for a peer are not.
        onError: (error, conn) => {
          if (conn === null) acceptErrors.push(error);
        },
      });
      const port = server.address.port;
      const steady = await connect({ api, port });
      try {
        for (let round = 0; round < ROUNDS; round++) {
          resetPeers(port, RESETS_PER_ROUND);
          await roundTrip(steady, `steady client, round ${round}`);
          // A new client right behind the resets must be accepted too.
          const fresh = await connect({ api, port });
          try {
            await roundTrip(fresh, `fresh client, round ${round}`);
          } finally {
            closeQuietly(fresh);
          }
          assert.deepEqual(acceptErrors, [], `round ${round}: a reset peer reached onError`);
        }
      } finally {
        closeQuietly(steady);
        await server.shutdown();
      }
    },
  );

  test(
    `listen()'s for-await loop keeps accepting while peers reset before accept (${api})`,
    T,
    async () => {
      const listener = await listen({ api });
      const port = listener.address.port;
      let accepted = 0;
      const loop = (async () => {
        for await (const conn of listener) {
          accepted++;
          void (async () => {
            for await (const frame of conn) conn.write(frame);
          })().catch(() => {}).finally(() => closeQuietly(conn));
        }
      })();
      // Rejects as soon as the loop ends or throws while the listener is open.
      let open = true;
      const loopEnded = loop.then(
        () => {
          if (open) throw new Error("the for-await loop ended while the listener was open");
          return new Promise<never>(() => {});
        },
        (error) => {
          throw new Error(`the for-await loop threw: ${error}`, { cause: error });
        },
      );
      loopEnded.catch(() => {});
      try {
        for (let round = 0; round < ROUNDS; round++) {
          resetPeers(port, RESETS_PER_ROUND);
          const client = await connect({ api, port });
          try {
            await roundTrip(client, `client after round ${round}`, loopEnded);
          } finally {
            closeQuietly(client);
          }
        }
        assert.ok(accepted >= ROUNDS, "every good client was accepted");
      } finally {
        open = false;
        listener.close();
      }
      await bounded(loop, "the loop to end once the listener is closed");
    },
  );
}

test(
  "serveListener() skips per-peer accept errors at once and reports a burst of EMFILE once",
  T,
  async () => {
    const coded = (code: string) => Object.assign(new Error(`accept: ${code}`), { code });
    // What accept() does, call after call: peers that reset, then the process out of descriptors,
    // then a peer again, then closed.
    const script = [
      ...["ECONNABORTED", "ECONNRESET", "ENOTCONN", "EPROTO"].map(coded),
      coded("EMFILE"),
      coded("EMFILE"),
      coded("ENFILE"),
      coded("ECONNRESET"),
      null,
    ];
    let calls = 0;
    const listener: ByteListener = {
      address: netAddress("127.0.0.1", 0),
      accept() {
        const next = script[calls++];
        return next === null || next === undefined ? Promise.resolve(null) : Promise.reject(next);
      },
      close() {},
    };
    const reported: unknown[] = [];
    const server = serveListener(listener, {
      codec: lengthPrefix(),
      handler: () => {},
      onError: (error, conn) => reported.push([(error as { code?: string }).code, conn]),
    });
    await bounded(server.finished, "the accept loop to reach the closed listener");
    assert.equal(calls, script.length, "the loop went on after every error");
    assert.deepEqual(reported, [["EMFILE", null]], "one report per burst, none for peers");
  },
);
