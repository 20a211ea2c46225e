/**
 * The node:net adapter. It runs in Node, Deno and Bun, which lets the benchmarks compare each
 * runtime's native sockets with its node:net layer.
 *
 * Runtime contracts this adapter relies on:
 * - Writing: node:net never writes partially; `socket.write` queues whatever the kernel does not
 *   take, and it keeps the caller's buffer **by reference** until that write's callback runs,
 *   even when `write()` returned `true` (a write behind one in progress is queued as is:
 *   nodejs/node#12133; libuv holds the buffer of an unfinished write). So this adapter's `write`
 *   resolves in the callback: only then may the core reuse the buffer, and only one write is in
 *   flight, which also keeps node's queue bounded. Resolving on `write()`'s return corrupted
 *   pipelined frames on Deno's node:net; checked by the conformance test "100,000 pipelined frames
 *   of random sizes arrive intact".
 * - Closing: `end(callback)` runs the callback once FIN is queued after all writes; a socket
 *   destroyed first may never call it, so `closeWrite` also settles on 'close'.
 *
 * Accepting: libuv retries ECONNABORTED itself and answers EMFILE/ENFILE with its reserve-fd trick
 * (`uv__server_io` in deps/uv/src/unix/stream.c); what still fails reaches the server's 'error'
 * event, never a connection. A peer that connects and resets before it is accepted arrives as a
 * socket that emits 'error' (ECONNRESET) and closes. Probed with 50 SO_LINGER-0 peers queued while
 * the event loop was blocked, on Node 20.20, Deno 2.9.6 and Bun 1.4.5: 50 sockets, 50 ECONNRESET,
 * no server error (Deno's node:net does not hit the NotConnected its `Deno.listen` throws); checked
 * by tests/accept_errors_test.ts.
 *
 * @module
 */

import * as net from "node:net";
import type { ConnectStreamOptions, ListenStreamsOptions, StreamAdapter } from "../adapter.ts";
import type { ByteListener, ByteStream, ByteStreamHandlers, NetAddress } from "../byte_stream.ts";
import { WaitQueue } from "../_wait_queue.ts";
import { ConnectError, ConnectionClosedError, ListenError } from "../errors.ts";
import { netAddress } from "../net_address.ts";

// ── Types ────────────────────────────────────────────────────────────────────────────────────

/** Options of {@linkcode connectStream}: the core's, nothing node:net-specific. */
export type NodeConnectOptions = ConnectStreamOptions;

/** Options of {@linkcode listenStreams}: the core's, nothing node:net-specific. */
export type NodeListenOptions = ListenStreamsOptions;

// ── Adapter functions ────────────────────────────────────────────────────────────────────────

/**
 * Connects with `node:net` and returns the connection as a {@linkcode ByteStream}.
 *
 * @param options Where to connect.
 * @returns The connected stream.
 *
 * @example
 * ```ts ignore
 * import { FramedConn, lengthPrefix } from "@nianbao/framed";
 * import { connectStream } from "@nianbao/framed/node";
 *
 * const conn = new FramedConn(await connectStream({ port: 8000 }), lengthPrefix());
 * ```
 */
export function connectStream(options: NodeConnectOptions): Promise<ByteStream> {
  const hostname = options.hostname ?? "127.0.0.1";
  return new Promise((resolve, reject) => {
    // node:net's errors already say "connect ECONNREFUSED 127.0.0.1:9000"; wrapped all the same,
    // so every adapter fails with one error type and one message shape.
    const fail = (error: unknown) =>
      reject(new ConnectError(netAddress(hostname, options.port), error));
    let socket: net.Socket;
    try {
      socket = net.connect({ host: hostname, port: options.port, allowHalfOpen: true });
    } catch (error) {
      // A bad port throws synchronously (ERR_SOCKET_BAD_PORT).
      return fail(error);
    }
    socket.once("error", fail);
    socket.once("connect", () => {
      socket.off("error", fail);
      resolve(new NodeStream(socket, options.noDelay ?? true));
    });
  });
}

/**
 * Listens with `node:net` and hands out accepted connections as {@linkcode ByteStream}s.
 *
 * @param options Where to listen.
 * @returns The listener, once it is bound.
 *
 * @example
 * ```ts ignore
 * import { listenStreams } from "@nianbao/framed/node";
 *
 * const listener = await listenStreams({ port: 0 });
 * console.log(`listening on ${listener.address.port}`);
 * ```
 */
export function listenStreams(options: NodeListenOptions = {}): Promise<ByteListener> {
  const listener = new NodeListener(options.noDelay ?? true);
  return listener.listen(options).then(
    () => listener,
    (error) => {
      const address = netAddress(options.hostname ?? "127.0.0.1", options.port ?? 0);
      throw new ListenError(address, error);
    },
  );
}

// ── Per-connection classes ───────────────────────────────────────────────────────────────────

class NodeStream implements ByteStream {
  readonly localAddress: NetAddress;
  readonly remoteAddress: NetAddress;
  readonly #socket: net.Socket;
  #handlers: ByteStreamHandlers | null = null;
  #earlyError: unknown = undefined;
  #closed = false;

  constructor(socket: net.Socket, noDelay: boolean) {
    this.#socket = socket;
    socket.setNoDelay(noDelay);
    // Nobody consumes yet: let TCP flow control hold the peer until start().
    socket.pause();
    this.localAddress = netAddress(socket.localAddress ?? "", socket.localPort ?? 0);
    this.remoteAddress = netAddress(socket.remoteAddress ?? "", socket.remotePort ?? 0);
    socket.on("close", () => (this.#closed = true));
    // An 'error' with no listener would crash the process, so listen from the first moment.
    socket.on("error", (error) => {
      if (this.#handlers === null) this.#earlyError ??= error;
      else this.#handlers.error(error);
    });
  }

  start(handlers: ByteStreamHandlers): void {
    const socket = this.#socket;
    // Each 'data' Buffer is a fresh allocation, so frames may keep pointing into it.
    socket.on("data", (chunk: Uint8Array) => {
      handlers.data(new Uint8Array(chunk.buffer, chunk.byteOffset, chunk.byteLength));
    });
    socket.on("end", () => handlers.end());
    this.#handlers = handlers;
    if (this.#earlyError !== undefined) handlers.error(this.#earlyError);
    else socket.resume();
  }

  pause(): void {
    this.#socket.pause();
  }

  resume(): void {
    this.#socket.resume();
  }

  write(bytes: Uint8Array): Promise<number> {
    const socket = this.#socket;
    if (this.#closed || socket.destroyed || socket.writableEnded) {
      return Promise.reject(new ConnectionClosedError());
    }
    // node:net keeps `bytes` by reference until the write callback runs, even when write()
    // returned true; resolving earlier let the cork buffer overwrite frames still in flight.
    return new Promise((resolve, reject) => {
      let settled = false;
      const done = (error?: unknown) => {
        if (settled) return;
        settled = true;
        socket.off("close", onClose);
        if (error === undefined || error === null) resolve(bytes.length);
        else reject(error);
      };
      // A socket destroyed before the write finishes may never call back: close settles it.
      const onClose = () => done(new ConnectionClosedError("the connection closed while writing"));
      socket.on("close", onClose);
      socket.write(bytes, done);
    });
  }

  closeWrite(): Promise<void> {
    const socket = this.#socket;
    if (this.#closed || socket.writableEnded) return Promise.resolve();
    // end()'s callback runs once FIN is sent; a socket destroyed first may never call it.
    return new Promise((resolve) => {
      const done = () => {
        socket.off("close", done);
        resolve();
      };
      socket.once("close", done);
      socket.end(done);
    });
  }

  close(): void {
    this.#closed = true;
    this.#socket.destroy();
  }
}

class NodeListener implements ByteListener {
  address: NetAddress = netAddress("", 0);
  readonly #server: net.Server;
  readonly #accepted = new WaitQueue<ByteStream>();
  #closed = false;

  constructor(noDelay: boolean) {
    this.#server = net.createServer({ allowHalfOpen: true, pauseOnConnect: true }, (socket) => {
      this.#accepted.push(new NodeStream(socket, noDelay));
    });
  }

  listen(options: NodeListenOptions): Promise<void> {
    return new Promise((resolve, reject) => {
      this.#server.once("error", reject);
      this.#server.listen(
        {
          host: options.hostname ?? "127.0.0.1",
          port: options.port ?? 0,
          ...(options.reusePort ? { reusePort: true } : {}),
        },
        () => {
          this.#server.off("error", reject);
          // Accept failures (EMFILE and the like) must not crash the process; node retries.
          this.#server.on("error", () => {});
          const address = this.#server.address() as net.AddressInfo;
          this.address = netAddress(address.address, address.port);
          resolve();
        },
      );
    });
  }

  accept(): Promise<ByteStream | null> {
    return this.#accepted.next();
  }

  close(): void {
    if (this.#closed) return;
    this.#closed = true;
    this.#server.close();
    this.#accepted.close();
  }
}

/**
 * This adapter as the core's {@linkcode StreamAdapter} contract: what `connect`, `listen` and
 * `serve` load for node:net (in Node, and with `api: "node"`).
 *
 * @example
 * ```ts ignore
 * import { streamAdapter } from "@nianbao/framed/node";
 *
 * const stream = await streamAdapter.connectStream({ port: 8000 });
 * ```
 */
export const streamAdapter: StreamAdapter = { connectStream, listenStreams };
