// The raw baseline: hand-written socket loops straight on each runtime's API, with no framed code
// in the path. Every framed number in the report is a ratio of these.

import * as net from "node:net";
import type { RuntimeName, SocketApi } from "../mod.ts";
import {
  bun,
  type BunSocket as BunSocketOf,
  type BunSocketHandler,
} from "../lib/adapters/_bun_types.ts";

/** The least a hand-written loop needs: write everything, and see every chunk. */
export interface RawConn {
  /** Writes every byte (looping over partial writes as a careful hand-written loop must). */
  write(bytes: Uint8Array): Promise<void>;
  /** Receives chunks; a chunk is only valid during the call (Deno's buffer is reused). */
  onData(callback: (chunk: Uint8Array) => void): void;
  close(): void;
}

export interface RawListener {
  port: number;
  close(): void;
}

type Flavour = "deno" | "bun" | "node";

function flavour(runtime: RuntimeName, api: SocketApi): Flavour {
  return api === "node" ? "node" : runtime;
}

// ── Deno: conn.read into one reused buffer, conn.write in a loop ─────────────────────────────

function denoConn(conn: Deno.TcpConn): RawConn {
  conn.setNoDelay(true);
  return {
    async write(bytes) {
      for (let at = 0; at < bytes.length;) at += await conn.write(bytes.subarray(at));
    },
    onData(callback) {
      void (async () => {
        const buffer = new Uint8Array(256 * 1024);
        try {
          for (let n = await conn.read(buffer); n !== null; n = await conn.read(buffer)) {
            callback(buffer.subarray(0, n));
          }
        } catch {
          // The peer went away: the cell is over.
        }
      })();
    },
    close() {
      try {
        conn.close();
      } catch {
        // Already closed.
      }
    },
  };
}

// ── Bun: data/drain callbacks; keep the tail socket.write did not take and resend it on drain ─

type BunSocket = BunSocketOf<BunRaw>;

class BunRaw implements RawConn {
  callback: (chunk: Uint8Array) => void = () => {};
  #drained: (() => void) | null = null;
  constructor(readonly socket: BunSocket) {
    socket.setNoDelay(true);
  }
  async write(bytes: Uint8Array): Promise<void> {
    for (let at = 0;;) {
      const n = this.socket.write(at === 0 ? bytes : bytes.subarray(at));
      at += Math.max(n, 0);
      if (at >= bytes.length) return;
      if (n < 0) throw new Error("socket closed");
      await new Promise<void>((resolve) => (this.#drained = resolve));
    }
  }
  drain(): void {
    this.#drained?.();
    this.#drained = null;
  }
  onData(callback: (chunk: Uint8Array) => void): void {
    this.callback = callback;
  }
  close(): void {
    this.socket.end();
  }
}

const bunHandlers = (onOpen: (conn: BunRaw) => void): BunSocketHandler<BunRaw> => ({
  open(socket: BunSocket) {
    socket.data = new BunRaw(socket);
    onOpen(socket.data);
  },
  data: (socket: BunSocket, chunk: Uint8Array) => socket.data.callback(chunk),
  drain: (socket: BunSocket) => socket.data.drain(),
  close: () => {},
  error: () => {},
});

// ── node:net: write until it says false, then wait for drain ─────────────────────────────────

function nodeConn(socket: net.Socket): RawConn {
  socket.setNoDelay(true);
  socket.on("error", () => {});
  return {
    write(bytes) {
      if (socket.write(bytes)) return Promise.resolve();
      return new Promise((resolve) => socket.once("drain", resolve));
    },
    onData(callback) {
      socket.on("data", callback);
    },
    close() {
      socket.destroy();
    },
  };
}

// ── Entry points ─────────────────────────────────────────────────────────────────────────────

export async function rawListen(
  runtime: RuntimeName,
  api: SocketApi,
  onConn: (conn: RawConn) => void,
): Promise<RawListener> {
  switch (flavour(runtime, api)) {
    case "deno": {
      const listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
      void (async () => {
        try {
          for await (const conn of listener) onConn(denoConn(conn));
        } catch {
          // Closed.
        }
      })();
      return { port: listener.addr.port, close: () => listener.close() };
    }
    case "bun": {
      const server = bun().listen({ hostname: "127.0.0.1", port: 0, socket: bunHandlers(onConn) });
      return { port: server.port, close: () => server.stop(true) };
    }
    case "node": {
      const server = net.createServer((socket) => onConn(nodeConn(socket)));
      await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
      return { port: (server.address() as net.AddressInfo).port, close: () => server.close() };
    }
  }
}

export async function rawConnect(
  runtime: RuntimeName,
  api: SocketApi,
  port: number,
): Promise<RawConn> {
  switch (flavour(runtime, api)) {
    case "deno":
      return denoConn(await Deno.connect({ hostname: "127.0.0.1", port }));
    case "bun": {
      let conn: BunRaw | undefined;
      await bun().connect({
        hostname: "127.0.0.1",
        port,
        socket: bunHandlers((c) => (conn = c)),
      });
      return conn!;
    }
    case "node": {
      const socket = net.connect({ host: "127.0.0.1", port });
      await new Promise((resolve, reject) => {
        socket.once("connect", resolve);
        socket.once("error", reject);
      });
      return nodeConn(socket);
    }
  }
}
