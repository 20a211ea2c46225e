/**
 * The Deno adapter: `Deno.connect` / `Deno.listen`, read with `conn.read` into a reused buffer.
 *
 * Deno's web streams (`conn.readable`) measured about 2× slower than `read`/`write` here, for both
 * throughput and latency, so this adapter uses `read` directly.
 *
 * Runtime contracts this adapter relies on:
 * - `Listener.accept()` throws for a peer that connected and reset before it was accepted:
 *   `NotConnected` (ENOTCONN), because Deno reads the peer's address after accept(2) succeeds
 *   (`op_net_accept_tcp` in denoland/deno ext/net; denoland/deno#8499, denoland/std#761), and
 *   `ConnectionAborted` / `ConnectionReset` where accept(2) itself fails. These belong to one peer:
 *   `accept()` here skips them and accepts again at once; it throws only errors of the process
 *   (EMFILE, ENFILE, ENOBUFS, ENOMEM), which callers back off from. Probed on Deno 2.9.6: five
 *   SO_LINGER-0 peers queued before `accept()` gave five `NotConnected` (code ENOTCONN); checked
 *   by tests/accept_errors_test.ts.
 * - Reading: `conn.read(p)` lends `p` to Deno until the promise it returns settles. Meanwhile Deno
 *   may write anywhere in `p` ("it may use all of p as scratch space during the call"), and after
 *   it keeps no reference ("implementations should not retain a reference to p"): the `Reader`
 *   contract `Deno.Conn` implements (doc.deno.land/deno/stable/~/Deno.Reader). So a read buffer is
 *   ours again once `read` resolves, and is read into again only where no frame points (the core
 *   says so by returning `true` from `data`). A pending read holds its whole buffer for as long as
 *   the peer stays quiet: 2,000 idle connections reading into 64 KiB buffers cost 59 KiB each, into
 *   1 KiB buffers 8 KiB each (Deno 2.9.6, bench/idle_server.ts). So each connection starts with a
 *   2 KiB buffer, grows it while reads fill it and shrinks it while they stay small (DenoStream).
 *   Checked by tests/read_buffer_test.ts (which fails if a buffer a frame points into is reused).
 * - Writing: `conn.write(p)` may write only part of `p` and resolves with the count (measured:
 *   about 3.9 MB of 64 MB); the core's pump loops over the rest. Like `read`, it borrows `p` until
 *   its promise settles and keeps no reference after (the `Writer` contract), so the cork buffer
 *   reuses a chunk only after the write resolves. Two overlapping writes can interleave: the pump
 *   never overlaps them. Checked by the conformance test "100,000 pipelined frames of random sizes
 *   arrive intact".
 *
 * @module
 */

import { isPeerAcceptError } from "../_accept_backoff.ts";
import type { ConnectStreamOptions, ListenStreamsOptions, StreamAdapter } from "../adapter.ts";
import type { ByteListener, ByteStream, ByteStreamHandlers, NetAddress } from "../byte_stream.ts";
import { ConnectError, ConnectionClosedError, ListenError } from "../errors.ts";
import { netAddress as makeNetAddress } from "../net_address.ts";

// ── Types ────────────────────────────────────────────────────────────────────────────────────

/** Options of {@linkcode connectStream}. */
export interface DenoConnectOptions extends ConnectStreamOptions {
  /**
   * The largest read buffer: reads start at 2 KiB and grow to this while data keeps coming.
   * Default 256 KiB.
   */
  readBufferSize?: number;
}

/** Options of {@linkcode listenStreams}. */
export interface DenoListenOptions extends ListenStreamsOptions {
  /**
   * The largest read buffer of a connection: reads start at 2 KiB and grow to this while data
   * keeps coming. Default 256 KiB.
   */
  readBufferSize?: number;
}

// The adaptive read buffer (see DenoStream and the contract above): it starts at MIN_READ_BUFFER,
// doubles while reads fill it, up to DEFAULT_READ_BUFFER or `readBufferSize`, and shrinks back
// while reads stay small. Small while idle, large while busy: measured here (2.9.6, loopback, one
// reader), a read costs about 2 µs whatever its size, so 4 KiB reads top out near 2 GB/s and
// 256 KiB reads near 7 GB/s.
const DEFAULT_READ_BUFFER = 256 * 1024;
const MIN_READ_BUFFER = 2 * 1024;
const EMPTY = new Uint8Array(0);

// ── Adapter functions ────────────────────────────────────────────────────────────────────────

/**
 * Connects with `Deno.connect` and returns the connection as a {@linkcode ByteStream}.
 *
 * @param options Where to connect.
 * @returns The connected stream.
 *
 * @example
 * ```ts ignore
 * import { FramedConn, lengthPrefix } from "@nianbao/framed";
 * import { connectStream } from "@nianbao/framed/deno";
 *
 * const conn = new FramedConn(await connectStream({ port: 8000 }), lengthPrefix());
 * ```
 */
export async function connectStream(options: DenoConnectOptions): Promise<ByteStream> {
  const hostname = options.hostname ?? "127.0.0.1";
  let conn: Deno.Conn;
  try {
    conn = await Deno.connect({ hostname, port: options.port });
  } catch (error) {
    throw new ConnectError(makeNetAddress(hostname, options.port), withLookupCode(error));
  }
  return fromDenoConn(conn, options);
}

// Deno's failed host lookup is a plain Error with no `code` (2.9.6, probed: "failed to lookup
// address information: Name or service not known", getaddrinfo's own text); give it the code
// node:net and Bun give (glibc's and macOS's wording of EAI_NONAME and EAI_AGAIN).
const LOOKUP_CODES: readonly (readonly [string, string])[] = [
  ["Name or service not known", "ENOTFOUND"],
  ["nodename nor servname provided", "ENOTFOUND"],
  ["Temporary failure in name resolution", "EAI_AGAIN"],
];

function withLookupCode(error: unknown): unknown {
  if (!(error instanceof Error) || (error as { code?: unknown }).code !== undefined) return error;
  if (!error.message.startsWith("failed to lookup address information")) return error;
  const known = LOOKUP_CODES.find(([text]) => error.message.includes(text));
  return known === undefined ? error : Object.assign(error, { code: known[1] });
}

/**
 * Listens with `Deno.listen` and hands out accepted connections as {@linkcode ByteStream}s.
 *
 * @param options Where to listen.
 * @returns The listener.
 *
 * @example
 * ```ts ignore
 * import { listenStreams } from "@nianbao/framed/deno";
 *
 * const listener = await listenStreams({ port: 0 });
 * console.log(`listening on ${listener.address.port}`);
 * ```
 */
export function listenStreams(options: DenoListenOptions = {}): Promise<ByteListener> {
  const hostname = options.hostname ?? "127.0.0.1";
  const port = options.port ?? 0;
  let listener: Deno.Listener;
  try {
    listener = Deno.listen({
      hostname,
      port,
      // Only pass reusePort when asked: it is an unstable option that needs --unstable-net.
      ...(options.reusePort ? { reusePort: true } : {}),
    });
  } catch (error) {
    // Deno.listen throws synchronously (AddrInUse); report it as a rejection like the others.
    return Promise.reject(new ListenError(makeNetAddress(hostname, port), error));
  }
  return Promise.resolve(new DenoListener(listener, options));
}

/**
 * Wraps an existing `Deno.Conn` (for example from `Deno.connectTls`) as a {@linkcode ByteStream}.
 *
 * @param conn A connected Deno connection.
 * @param options Nagle and read-buffer settings.
 * @returns The stream.
 *
 * @example
 * ```ts ignore
 * import { fromDenoConn } from "@nianbao/framed/deno";
 *
 * const stream = fromDenoConn(await Deno.connect({ port: 8000 }));
 * ```
 */
export function fromDenoConn(
  conn: Deno.Conn,
  options: { noDelay?: boolean; readBufferSize?: number } = {},
): ByteStream {
  if (options.noDelay ?? true) (conn as Partial<Deno.TcpConn>).setNoDelay?.(true);
  return new DenoStream(conn, options.readBufferSize ?? DEFAULT_READ_BUFFER);
}

// ── Per-connection classes ───────────────────────────────────────────────────────────────────

function netAddress(addr: Deno.Addr): NetAddress {
  return "hostname" in addr ? makeNetAddress(addr.hostname, addr.port) : makeNetAddress("", 0);
}

class DenoStream implements ByteStream {
  readonly localAddress: NetAddress;
  readonly remoteAddress: NetAddress;
  readonly #conn: Deno.Conn;
  // Reads go into #buffer from #offset on. Bytes before #offset belong to frames handed out, so
  // they are never read over. Allocated when reading starts.
  #buffer: Uint8Array = EMPTY;
  #offset = 0;
  // The adaptive read size, like Netty's AdaptiveRecvByteBufAllocator: doubled when a read fills a
  // window of this size (more is waiting), shrunk after two reads in a row used an eighth or less.
  #size: number;
  readonly #minSize: number;
  readonly #maxSize: number;
  #smallReads = 0;
  #handlers: ByteStreamHandlers | null = null;
  #paused = false;
  #reading = false;
  #ended = false;
  #closed = false;

  constructor(conn: Deno.Conn, readBufferSize: number) {
    this.#conn = conn;
    this.#maxSize = Math.max(1, readBufferSize);
    this.#size = this.#minSize = Math.min(MIN_READ_BUFFER, this.#maxSize);
    this.localAddress = netAddress(conn.localAddr);
    this.remoteAddress = netAddress(conn.remoteAddr);
  }

  start(handlers: ByteStreamHandlers): void {
    this.#handlers = handlers;
    void this.#readLoop();
  }

  // Deno's sockets are pulled: pausing is simply not calling read, and the kernel's window fills.
  pause(): void {
    this.#paused = true;
  }

  resume(): void {
    this.#paused = false;
    if (!this.#reading && this.#handlers !== null) void this.#readLoop();
  }

  async #readLoop(): Promise<void> {
    const handlers = this.#handlers!;
    this.#reading = true;
    try {
      while (!this.#paused && !this.#closed && !this.#ended) {
        const window = this.#window();
        const n = await this.#conn.read(window);
        if (n === null) {
          this.#ended = true;
          handlers.end();
          return;
        }
        this.#adapt(n, window.length);
        // Read into the same bytes again unless a frame still points into them; then move past
        // them (a fresh buffer comes from #window when too little is left).
        if (handlers.data(window.subarray(0, n))) this.#offset += n;
      }
    } catch (error) {
      if (!this.#closed) handlers.error(error);
    } finally {
      this.#reading = false;
    }
  }

  // Where the next read goes: the free part of the buffer, or a fresh buffer of the current size
  // when that part is under half of it, or when the buffer is over four times the size. Deno holds
  // a pending read's whole buffer however long the peer stays quiet, so a connection whose reads
  // have become small must not wait on a large one.
  #window(): Uint8Array {
    const size = this.#size;
    const free = this.#buffer.length - this.#offset;
    if (free < (this.#offset === 0 ? size : size / 2) || this.#buffer.length > size * 4) {
      this.#buffer = new Uint8Array(size);
      this.#offset = 0;
    }
    return this.#offset === 0 ? this.#buffer : this.#buffer.subarray(this.#offset);
  }

  #adapt(n: number, window: number): void {
    const size = this.#size;
    if (n === window) {
      // The read filled its window: more is probably waiting in the kernel.
      if (window >= size) this.#size = Math.min(size * 2, this.#maxSize);
      this.#smallReads = 0;
    } else if (n <= size / 8 && size > this.#minSize) {
      if (++this.#smallReads < 2) return;
      let smaller = size;
      while (smaller > this.#minSize && n <= smaller / 8) {
        smaller = Math.max(this.#minSize, Math.ceil(smaller / 2));
      }
      this.#size = smaller;
      this.#smallReads = 0;
    } else {
      this.#smallReads = 0;
    }
  }

  write(bytes: Uint8Array): Promise<number> {
    if (this.#closed) return Promise.reject(new ConnectionClosedError());
    return this.#conn.write(bytes);
  }

  closeWrite(): Promise<void> {
    return this.#conn.closeWrite();
  }

  close(): void {
    if (this.#closed) return;
    this.#closed = true;
    try {
      this.#conn.close();
    } catch {
      // Already closed by the peer or the runtime.
    }
  }
}

// Deno's accept fails for one peer with NotConnected (it reads the peer's address after accepting),
// ConnectionAborted or ConnectionReset; match the classes too in case a code is missing.
function isPeerFailure(error: unknown): boolean {
  return isPeerAcceptError(error) || error instanceof Deno.errors.NotConnected ||
    error instanceof Deno.errors.ConnectionAborted || error instanceof Deno.errors.ConnectionReset;
}

class DenoListener implements ByteListener {
  readonly address: NetAddress;
  readonly #listener: Deno.Listener;
  readonly #options: DenoListenOptions;
  #closed = false;

  constructor(listener: Deno.Listener, options: DenoListenOptions) {
    this.#listener = listener;
    this.#options = options;
    this.address = netAddress(listener.addr);
  }

  async accept(): Promise<ByteStream | null> {
    // Each failure here is a real connection that came and went, so retrying cannot spin.
    while (!this.#closed) {
      let conn: Deno.Conn;
      try {
        conn = await this.#listener.accept();
      } catch (error) {
        if (this.#closed || error instanceof Deno.errors.BadResource) return null;
        if (isPeerFailure(error)) continue;
        throw error;
      }
      try {
        return fromDenoConn(conn, this.#options);
      } catch (error) {
        // Setting TCP_NODELAY on a socket the peer already reset can fail too.
        conn.close();
        if (isPeerFailure(error)) continue;
        throw error;
      }
    }
    return null;
  }

  close(): void {
    if (this.#closed) return;
    this.#closed = true;
    try {
      this.#listener.close();
    } catch {
      // Already closed.
    }
  }
}

/**
 * This adapter as the core's {@linkcode StreamAdapter} contract: what `connect`, `listen` and
 * `serve` load in Deno.
 *
 * @example
 * ```ts ignore
 * import { streamAdapter } from "@nianbao/framed/deno";
 *
 * const stream = await streamAdapter.connectStream({ port: 8000 });
 * ```
 */
export const streamAdapter: StreamAdapter = { connectStream, listenStreams };
