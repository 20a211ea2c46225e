/**
 * The node:net adapter. It runs in Node, Deno and Bun, which lets the benchmarks compare each
 * runtime's native sockets with its node:net layer.
 *
 * node:net never writes partially: `socket.write` buffers whatever the kernel does not take. This
 * adapter waits for `drain` whenever `write` returns `false`, so that buffer stays near Node's
 * `writableHighWaterMark` instead of growing without bound.
 *
 * @module
 */

import * as net from "node:net";
import type { ByteListener, ByteStream, ByteStreamHandlers, NetAddress } from "../byte_stream.ts";
import { WaitQueue } from "../_wait_queue.ts";
import { ConnectionClosedError } from "../errors.ts";

// ── Types ────────────────────────────────────────────────────────────────────────────────────

/** Options of {@linkcode connectStream}. */
export interface NodeConnectOptions {
  /** Default `"127.0.0.1"`. */
  hostname?: string;
  /** The port to connect to. */
  port: number;
  /** Disable Nagle's algorithm. Default `true`. */
  noDelay?: boolean;
}

/** Options of {@linkcode listenStreams}. */
export interface NodeListenOptions {
  /** Default `"127.0.0.1"`. */
  hostname?: string;
  /** Default 0: the system picks a free port. */
  port?: number;
  /** Let several processes listen on one port (Linux; needs Node 22.12+ or 23.1+). */
  reusePort?: boolean;
  /** Disable Nagle's algorithm on accepted connections. Default `true`. */
  noDelay?: boolean;
}

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
  return new Promise((resolve, reject) => {
    const socket = net.connect({
      host: options.hostname ?? "127.0.0.1",
      port: options.port,
      allowHalfOpen: true,
    });
    socket.once("error", reject);
    socket.once("connect", () => {
      socket.off("error", reject);
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
  return listener.listen(options).then(() => listener);
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
    this.localAddress = { hostname: socket.localAddress ?? "", port: socket.localPort ?? 0 };
    this.remoteAddress = { hostname: socket.remoteAddress ?? "", port: socket.remotePort ?? 0 };
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
    if (socket.write(bytes)) return Promise.resolve(bytes.length);
    return new Promise((resolve, reject) => {
      const done = (error?: unknown) => {
        socket.off("drain", onDrain);
        socket.off("close", onClose);
        if (error === undefined) resolve(bytes.length);
        else reject(error);
      };
      const onDrain = () => done();
      const onClose = () => done(new ConnectionClosedError("the connection closed while writing"));
      socket.on("drain", onDrain);
      socket.on("close", onClose);
    });
  }

  closeWrite(): Promise<void> {
    const socket = this.#socket;
    if (this.#closed || socket.writableEnded) return Promise.resolve();
    return new Promise((resolve) => socket.end(resolve));
  }

  close(): void {
    this.#closed = true;
    this.#socket.destroy();
  }
}

class NodeListener implements ByteListener {
  address: NetAddress = { hostname: "", port: 0 };
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
          this.address = { hostname: address.address, port: address.port };
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
