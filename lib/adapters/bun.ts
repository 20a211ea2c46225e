/**
 * The Bun adapter: `Bun.connect` / `Bun.listen`.
 *
 * Bun's `socket.write` returns how many bytes it took and **drops the rest** (measured: about
 * 3.9 MB of a 64 MB buffer). This adapter reports the partial count to `sendAll`, which resends the
 * tail after Bun's `drain` callback, in order. Bun documents the write as unbuffered (one
 * sendto(2)): it keeps no reference to the caller's bytes once it returns, so the core may reuse
 * the buffer as soon as `write` resolves; checked by the conformance test "100,000 pipelined
 * frames of random sizes arrive intact".
 *
 * Bun's types are declared structurally in `_bun_types.ts` (checked against bun-types in CI).
 *
 * Accepting: `Bun.listen` has no accept call that could fail. A peer that connects and resets
 * before it is accepted still gets `open`, then `close` with ECONNRESET; no other connection
 * notices, so a reset peer is one short-lived stream here, never an error of the listener.
 * Probed on Bun 1.4.5 with 50 SO_LINGER-0 peers queued while the event loop was blocked: 50
 * `open`, 50 `close` (ECONNRESET); checked by tests/accept_errors_test.ts.
 *
 * @module
 */

import type { ConnectStreamOptions, ListenStreamsOptions, StreamAdapter } from "../adapter.ts";
import type { ByteListener, ByteStream, ByteStreamHandlers, NetAddress } from "../byte_stream.ts";
import { WaitQueue } from "../_wait_queue.ts";
import { ConnectError, ConnectionClosedError, ListenError } from "../errors.ts";
import { netAddress } from "../net_address.ts";
import {
  bun,
  type BunSocket as BunSocketOf,
  type BunSocketHandler as BunSocketHandlerOf,
  type BunTcpListener,
} from "./_bun_types.ts";

// ── Types ────────────────────────────────────────────────────────────────────────────────────

// Each Bun socket's `data` slot holds this adapter's stream, set in `open`.
type BunSocket = BunSocketOf<BunStream | undefined>;
type BunSocketHandler = BunSocketHandlerOf<BunStream | undefined>;

/** Options of {@linkcode connectStream}: the core's, nothing Bun-specific. */
export type BunConnectOptions = ConnectStreamOptions;

/** Options of {@linkcode listenStreams}: the core's, nothing Bun-specific. */
export type BunListenOptions = ListenStreamsOptions;

// ── Adapter functions ────────────────────────────────────────────────────────────────────────

/**
 * Connects with `Bun.connect` and returns the connection as a {@linkcode ByteStream}.
 *
 * @param options Where to connect.
 * @returns The connected stream.
 *
 * @example
 * ```ts ignore
 * import { FramedConn, lengthPrefix } from "@nianbao/framed";
 * import { connectStream } from "@nianbao/framed/bun";
 *
 * const conn = new FramedConn(await connectStream({ port: 8000 }), lengthPrefix());
 * ```
 */
export async function connectStream(options: BunConnectOptions): Promise<ByteStream> {
  let stream: BunStream | undefined;
  const hostname = options.hostname ?? "127.0.0.1";
  try {
    // Bun.connect rejects with an Error whose `code` is the errno ("ECONNREFUSED", "ENOTFOUND")
    // and whose message is only "Failed to connect" (1.4.5, probed): the address is added here.
    await bun().connect({
      hostname,
      port: options.port,
      // Half-close must work both ways: a client may send FIN and still read the reply.
      allowHalfOpen: true,
      socket: socketHandler((s) => (stream = s), options.noDelay ?? true),
    });
  } catch (error) {
    throw new ConnectError(netAddress(hostname, options.port), error);
  }
  return stream!;
}

/**
 * Listens with `Bun.listen` and hands out accepted connections as {@linkcode ByteStream}s.
 *
 * @param options Where to listen.
 * @returns The listener.
 *
 * @example
 * ```ts ignore
 * import { listenStreams } from "@nianbao/framed/bun";
 *
 * const listener = await listenStreams({ port: 0 });
 * console.log(`listening on ${listener.address.port}`);
 * ```
 */
export function listenStreams(options: BunListenOptions = {}): Promise<ByteListener> {
  try {
    return Promise.resolve(new BunListener(options));
  } catch (error) {
    // Bun.listen throws synchronously, code "EADDRINUSE", message "Failed to listen at 127.0.0.1".
    const address = netAddress(options.hostname ?? "127.0.0.1", options.port ?? 0);
    return Promise.reject(new ListenError(address, error));
  }
}

function socketHandler(onOpen: (stream: BunStream) => void, noDelay: boolean): BunSocketHandler {
  return {
    open(socket) {
      const stream = new BunStream(socket, noDelay);
      socket.data = stream;
      onOpen(stream);
    },
    data: (socket, chunk) => socket.data?.onData(chunk),
    drain: (socket) => socket.data?.onDrain(),
    end: (socket) => socket.data?.onEnd(),
    close: (socket, error) => socket.data?.onClose(error),
    error: (socket, error) => socket.data?.onClose(error),
  };
}

// ── Per-connection classes ───────────────────────────────────────────────────────────────────

class BunStream implements ByteStream {
  readonly localAddress: NetAddress;
  readonly remoteAddress: NetAddress;
  readonly #socket: BunSocket;
  #handlers: ByteStreamHandlers | null = null;
  // What arrived before start(): kept, in order, so no byte is lost.
  #early: Uint8Array[] = [];
  #earlyEnd: { error?: unknown } | null = null;
  #drain: { promise: Promise<void>; resolve(): void; reject(error: unknown): void } | null = null;
  #paused = false;
  #closed = false;

  constructor(socket: BunSocket, noDelay: boolean) {
    this.#socket = socket;
    if (noDelay) socket.setNoDelay(true);
    this.localAddress = netAddress(socket.localAddress, socket.localPort);
    this.remoteAddress = netAddress(socket.remoteAddress, socket.remotePort);
    // Nobody consumes yet: let TCP flow control hold the peer until start().
    socket.pause();
  }

  start(handlers: ByteStreamHandlers): void {
    this.#handlers = handlers;
    for (const chunk of this.#early.splice(0)) handlers.data(chunk);
    const early = this.#earlyEnd;
    if (early !== null) {
      if ("error" in early) handlers.error(early.error);
      else handlers.end();
    } else if (!this.#paused) {
      this.#socket.resume();
    }
  }

  pause(): void {
    this.#paused = true;
    if (!this.#closed) this.#socket.pause();
  }

  resume(): void {
    this.#paused = false;
    if (!this.#closed && this.#handlers !== null) this.#socket.resume();
  }

  onData(chunk: Uint8Array): void {
    // Bun hands out a fresh Buffer per event, so frames may point into it for good.
    const bytes = new Uint8Array(chunk.buffer, chunk.byteOffset, chunk.byteLength);
    if (this.#handlers === null) this.#early.push(bytes);
    else this.#handlers.data(bytes);
  }

  onDrain(): void {
    const drain = this.#drain;
    this.#drain = null;
    drain?.resolve();
  }

  onEnd(): void {
    if (this.#handlers === null) this.#earlyEnd ??= {};
    else this.#handlers.end();
  }

  onClose(error?: unknown): void {
    const wasClosed = this.#closed;
    this.#closed = true;
    this.#drain?.reject(
      new ConnectionClosedError("the connection closed while writing", { cause: error }),
    );
    this.#drain = null;
    if (wasClosed) return;
    // A close without FIN or error still ends the stream; the core ignores a second end.
    if (this.#handlers === null) this.#earlyEnd ??= error === undefined ? {} : { error };
    else if (error === undefined) this.#handlers.end();
    else this.#handlers.error(error);
  }

  async write(bytes: Uint8Array): Promise<number> {
    for (;;) {
      if (this.#closed) throw new ConnectionClosedError();
      if (this.#drain !== null) await this.#drain.promise;
      const written = this.#socket.write(bytes);
      if (written < 0) throw new ConnectionClosedError();
      // Bun drops the unwritten tail of socket.write; sendAll resends it after drain.
      if (written < bytes.length && this.#drain === null) {
        let resolve!: () => void;
        let reject!: (error: unknown) => void;
        const promise = new Promise<void>((res, rej) => {
          resolve = res;
          reject = rej;
        });
        promise.catch(() => {});
        this.#drain = { promise, resolve, reject };
      }
      if (written > 0) return written;
    }
  }

  closeWrite(): Promise<void> {
    // shutdown() with no argument sends FIN and keeps reading (end() would close both ways).
    if (!this.#closed) this.#socket.shutdown();
    return Promise.resolve();
  }

  close(): void {
    if (this.#closed) return;
    this.#closed = true;
    this.#drain?.reject(new ConnectionClosedError());
    this.#drain = null;
    this.#socket.end();
  }
}

class BunListener implements ByteListener {
  readonly address: NetAddress;
  readonly #server: BunTcpListener;
  readonly #accepted = new WaitQueue<ByteStream>();
  #closed = false;

  constructor(options: BunListenOptions) {
    this.#server = bun().listen({
      hostname: options.hostname ?? "127.0.0.1",
      port: options.port ?? 0,
      ...(options.reusePort ? { reusePort: true } : {}),
      allowHalfOpen: true,
      socket: socketHandler((stream) => this.#accepted.push(stream), options.noDelay ?? true),
    });
    this.address = netAddress(this.#server.hostname, this.#server.port);
  }

  accept(): Promise<ByteStream | null> {
    return this.#accepted.next();
  }

  close(): void {
    if (this.#closed) return;
    this.#closed = true;
    // Stop listening only; accepted connections stay open.
    this.#server.stop(false);
    this.#accepted.close();
  }
}

/**
 * This adapter as the core's {@linkcode StreamAdapter} contract: what `connect`, `listen` and
 * `serve` load for Bun's native sockets.
 *
 * @example
 * ```ts ignore
 * import { streamAdapter } from "@nianbao/framed/bun";
 *
 * const stream = await streamAdapter.connectStream({ port: 8000 });
 * ```
 */
export const streamAdapter: StreamAdapter = { connectStream, listenStreams };
