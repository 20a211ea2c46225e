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
 * - TLS, server: `Deno.listenTls`'s `accept()` returns a connection before its handshake, which
 *   runs on the first read or write, or on `handshake()`. Here each handshake starts at once and
 *   runs beside the others, bounded by `handshakeTimeout` (DenoTlsListener, HandshakeQueue), and a
 *   connection is handed out only once it succeeded. A failed one rejects `handshake()` with
 *   `InvalidData` ("received fatal alert: UnknownCA", "received corrupt message..."). Accepted
 *   `Deno.TlsConn`s have no `setNoDelay` (2.9.6, probed): Nagle is left as Deno sets it. And
 *   closing a `Deno.TlsConn` whose handshake has not finished leaves its TCP socket open (the
 *   peer sees no FIN; tests/repros/deno_tls_close_leak.ts, likely denoland/deno#14547): a peer
 *   dropped at the handshake timeout or at shutdown is reported and never handed out, but its
 *   file descriptor stays until the peer itself goes away (it is closed then: DenoTlsListener
 *   keeps it until its handshake ends, and caps handshakes in flight at 512, so silent peers
 *   cannot exhaust the descriptors; probed: 700 silent peers held 536 fds, all freed when they
 *   left, and the server served again). The same holds for a client: a
 *   `connect({ tls })` aborted or timed out during the handshake rejects at once, but its socket
 *   stays open until the server closes it.
 * - TLS, client: `Deno.connect`, then `Deno.startTls` (only it takes a name to check other than
 *   the hostname: `servername`), then `handshake()` awaited, so a certificate that does not verify
 *   ("invalid peer certificate: UnknownIssuer", "...certificate expired...", "...not valid for
 *   name...") fails connect(). `Deno.startTls` takes the connection's resource and fails with
 *   `Busy` ("TCP stream is currently in use", 2.9.6, probed) while a read is pending: a STARTTLS
 *   upgrade needs the read loop stopped first (FrameReader's `pauseAfter`). Checked by
 *   tests/tls_test.ts and tests/starttls_test.ts.
 * - Unix sockets: `Deno.listen({ transport: "unix" })` refuses a path whose file exists
 *   (AddrInUse, even when nobody listens) and removes the file when closed; connecting to a
 *   missing path is NotFound (ENOENT), to a dead one ConnectionRefused (ECONNREFUSED) (2.9.6,
 *   probed). Checked by tests/unix_socket_test.ts.
 *
 * @module
 */

import { isPeerAcceptError } from "../_accept_backoff.ts";
import { HandshakeQueue } from "../_handshake_queue.ts";
import { isRefused, listenUnixReclaiming, type UnixPathOps } from "../_unix_socket.ts";
import type { ConnectStreamOptions, ListenStreamsOptions, StreamAdapter } from "../adapter.ts";
import type {
  Address,
  ByteListener,
  ByteStream,
  ByteStreamHandlers,
  NetAddress,
  TlsInfo,
} from "../byte_stream.ts";
import { ConnectError, ConnectionClosedError, ListenError, TlsError } from "../errors.ts";
import { netAddress as makeNetAddress, unixAddress } from "../net_address.ts";
import { caList, DEFAULT_HANDSHAKE_TIMEOUT, handshakeWithin, pemText } from "../_tls_internal.ts";
import type { TlsConnectOptions, TlsListenOptions } from "../tls.ts";

// ── Types ────────────────────────────────────────────────────────────────────────────────────

/** Deno's own setting, for both {@linkcode connectStream} and {@linkcode listenStreams}. */
export interface DenoReadOptions {
  /**
   * The largest read buffer of a connection: reads start at 2 KiB and grow to this while data
   * keeps coming. Default 256 KiB.
   */
  readBufferSize?: number;
}

/** Options of {@linkcode connectStream}. */
export type DenoConnectOptions = ConnectStreamOptions & DenoReadOptions;

/** Options of {@linkcode listenStreams}. */
export type DenoListenOptions = ListenStreamsOptions & DenoReadOptions;

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
  if (options.path !== undefined) {
    let conn: Deno.Conn;
    try {
      conn = await Deno.connect({ transport: "unix", path: options.path });
    } catch (error) {
      throw new ConnectError(unixAddress(options.path), error);
    }
    return fromDenoConn(conn, options);
  }
  const hostname = options.hostname ?? "127.0.0.1";
  let conn: Deno.TcpConn;
  try {
    // Deno.connect takes a signal for TCP (2.9.6 types: "An AbortSignal to close the tcp
    // connection"); a unix connect is local and quick, and a late one is closed by the core.
    conn = await Deno.connect({ hostname, port: options.port, signal: options.signal });
  } catch (error) {
    throw new ConnectError(makeNetAddress(hostname, options.port), withLookupCode(error));
  }
  if (!options.tls) {
    if (options.noDelay ?? true) conn.setNoDelay(true);
    return new DenoStream(conn, options.readBufferSize ?? DEFAULT_READ_BUFFER, undefined, hostname);
  }
  return await startTls(conn, options.tls === true ? {} : options.tls, hostname, options);
}

// TLS on a connected TCP socket: Deno.startTls, not Deno.connectTls, because only startTls takes
// a name to check other than the hostname connected to (`servername`). The handshake is awaited
// here, so a certificate that does not verify fails connect() instead of the first read.
async function startTls(
  tcp: Deno.TcpConn,
  tls: TlsConnectOptions,
  hostname: string,
  options: DenoReadOptions & { noDelay?: boolean; signal?: AbortSignal },
): Promise<ByteStream> {
  const remote = netAddress(tcp.remoteAddr);
  if (options.noDelay ?? true) tcp.setNoDelay(true);
  let conn: Deno.TlsConn | undefined;
  // Aborting connect() mid-handshake closes the socket, which ends the handshake too.
  const drop = () => closeQuietly(conn ?? tcp);
  options.signal?.addEventListener("abort", drop, { once: true });
  try {
    const handshake = (async () => {
      conn = await Deno.startTls(tcp, {
        hostname: tls.servername ?? hostname,
        caCerts: caList(tls.ca),
        alpnProtocols: tls.alpn,
      });
      return await conn.handshake();
    })();
    const timeout = tls.handshakeTimeout ?? DEFAULT_HANDSHAKE_TIMEOUT;
    const info = await handshakeWithin(timeout, handshake, () => closeQuietly(conn ?? tcp));
    return new DenoStream(conn!, options.readBufferSize ?? DEFAULT_READ_BUFFER, {
      alpnProtocol: info.alpnProtocol,
    });
  } catch (error) {
    closeQuietly(conn ?? tcp);
    throw new TlsError(remote, error);
  } finally {
    options.signal?.removeEventListener("abort", drop);
  }
}

function closeQuietly(closer: { close(): void }): void {
  try {
    closer.close();
  } catch {
    // Already closed.
  }
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
export async function listenStreams(options: DenoListenOptions = {}): Promise<ByteListener> {
  if (options.path !== undefined) {
    const path = options.path;
    try {
      const listener = await listenUnixReclaiming(
        path,
        () => Deno.listen({ transport: "unix", path }),
        UNIX_PATHS,
      );
      return new DenoListener(listener, options, path);
    } catch (error) {
      throw new ListenError(unixAddress(path), error);
    }
  }
  const hostname = options.hostname ?? "127.0.0.1";
  const port = options.port ?? 0;
  const tls = options.tls;
  try {
    // Only pass reusePort when asked: it is an unstable option that needs --unstable-net.
    const reuse = options.reusePort ? { reusePort: true } : {};
    if (tls === undefined) {
      return new DenoListener(Deno.listen({ hostname, port, ...reuse }), options);
    }
    const listener = Deno.listenTls({
      hostname,
      port,
      ...reuse,
      cert: pemText(tls.cert),
      key: pemText(tls.key),
      alpnProtocols: tls.alpn,
    });
    return new DenoTlsListener(listener, tls, options);
  } catch (error) {
    // Deno.listen throws synchronously (AddrInUse, or a bad certificate for listenTls).
    throw new ListenError(makeNetAddress(hostname, port), error);
  }
}

const UNIX_PATHS: UnixPathOps = {
  isSocket(path) {
    try {
      return Deno.lstatSync(path).isSocket === true;
    } catch {
      return false;
    }
  },
  async isLive(path) {
    try {
      (await Deno.connect({ transport: "unix", path })).close();
      return true;
    } catch (error) {
      return !isRefused(error);
    }
  },
  remove: (path) => Deno.removeSync(path),
};

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

function address(addr: Deno.Addr): Address {
  return addr.transport === "unix" ? unixAddress(addr.path ?? "") : netAddress(addr);
}

class DenoStream implements ByteStream {
  readonly localAddress: Address;
  readonly remoteAddress: Address;
  readonly tls: TlsInfo | undefined;
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

  // The name a STARTTLS upgrade checks by default: the hostname connected to, when known.
  readonly #hostname: string | undefined;

  constructor(conn: Deno.Conn, readBufferSize: number, tls?: TlsInfo, hostname?: string) {
    this.#conn = conn;
    this.#hostname = hostname;
    this.#maxSize = Math.max(1, readBufferSize);
    this.#size = this.#minSize = Math.min(MIN_READ_BUFFER, this.#maxSize);
    this.localAddress = address(conn.localAddr);
    this.remoteAddress = address(conn.remoteAddr);
    this.tls = tls;
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
      // A TLS peer that closes without close_notify (Bun's and Node's TLS clients often do) is
      // UnexpectedEof in Deno: an end of stream, as Bun and node:tls take it. A frame it cuts
      // short still fails, as IncompleteFrameError, since the decoder sees the end mid-frame.
      if (this.tls !== undefined && error instanceof Deno.errors.UnexpectedEof) {
        this.#ended = true;
        handlers.end();
      } else if (!this.#closed) {
        handlers.error(error);
      }
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

  // Deno.startTls takes the connection's resource, and fails with Busy ("TCP stream is currently
  // in use", 2.9.6, probed) while a read is pending on it; nothing can cancel that read. So the
  // read loop must have stopped: FrameReader pauses it inside the data callback of the last
  // plaintext frame (readFrame({ pauseAfter: true })), before another read is issued.
  startTls(options: TlsConnectOptions): Promise<ByteStream> {
    if (this.#reading) {
      return Promise.reject(
        new TypeError("a read is pending: stop reading after the last plaintext frame first"),
      );
    }
    if (this.#closed || this.tls !== undefined || this.#conn.remoteAddr.transport !== "tcp") {
      return Promise.reject(new TypeError("only an open plain TCP connection can start TLS"));
    }
    // The socket now belongs to the TLS stream: closing this one must not touch it.
    this.#closed = true;
    const remote = this.remoteAddress as NetAddress;
    return startTls(this.#conn as Deno.TcpConn, options, this.#hostname ?? remote.hostname, {
      readBufferSize: this.#maxSize,
      noDelay: false,
    });
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
  readonly address: Address;
  readonly #listener: Deno.Listener;
  readonly #options: DenoListenOptions;
  readonly #unixPath: string | undefined;
  #closed = false;

  constructor(listener: Deno.Listener, options: DenoListenOptions, unixPath?: string) {
    this.#listener = listener;
    this.#options = options;
    this.#unixPath = unixPath;
    this.address = address(listener.addr);
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
    // Deno removes a unix socket's file only once a pending accept() has returned, after this
    // call (2.9.6, probed): a process that exits right after close() would leave it behind.
    if (this.#unixPath !== undefined && UNIX_PATHS.isSocket(this.#unixPath)) {
      try {
        Deno.removeSync(this.#unixPath);
      } catch {
        // Deno removed it first.
      }
    }
  }
}

// Deno's TLS listener hands out a connection before its handshake (which runs on the first read
// or write, or on `handshake()`). Here connections are accepted from the moment the listener
// exists, and each one's handshake starts at once and runs alongside the others (each bounded by
// the handshake timeout); the HandshakeQueue hands
// connections out as their handshakes succeed. One accept(2) is kept going in the background
// while fewer than MAX_UNCLAIMED outcomes wait for an accept() call, so a server that stops
// accepting does not drain the kernel's backlog into memory; an error of the listener stops it
// until the next accept() has seen the error.
const MAX_UNCLAIMED = 128;
// The most handshakes under way at once (see DenoTlsListener.#acceptLoop): far below the usual
// 1,024-descriptor soft limit, far above what a healthy server needs at one moment.
const MAX_HANDSHAKES = 512;

class DenoTlsListener implements ByteListener {
  readonly address: Address;
  readonly #listener: Deno.TlsListener;
  readonly #options: DenoReadOptions & { noDelay?: boolean };
  readonly #queue: HandshakeQueue;
  #accepting = false;
  #closed = false;
  // Handshakes Deno has not finished (each holds a socket), those that timed out and wait for
  // their end to be closed, and the accept loop waiting for a free slot.
  #inFlight = 0;
  readonly #lingering = new Set<Deno.TlsConn>();
  #slotFreed: (() => void) | null = null;

  constructor(
    listener: Deno.TlsListener,
    tls: TlsListenOptions,
    options: DenoReadOptions & { noDelay?: boolean },
  ) {
    this.#listener = listener;
    this.#options = options;
    this.#queue = new HandshakeQueue(tls.handshakeTimeout ?? DEFAULT_HANDSHAKE_TIMEOUT);
    this.address = address(listener.addr);
    // Accept and shake hands from the start, as Bun's and Node's TLS servers do: a client that
    // connects (and awaits its handshake) before the first accept() call must not wait for it.
    void this.#acceptLoop();
  }

  accept(): Promise<ByteStream | null> {
    if (!this.#accepting) void this.#acceptLoop();
    return this.#queue.next();
  }

  async #acceptLoop(): Promise<void> {
    this.#accepting = true;
    try {
      while (!this.#closed) {
        // Enough connections wait to be accepted: the next accept() call starts the loop again.
        if (this.#queue.unclaimed >= MAX_UNCLAIMED) return;
        // Every handshake holds a file descriptor Deno cannot free before it ends: at the cap,
        // new peers wait in the kernel's backlog until one ends, instead of exhausting them.
        while (this.#inFlight >= MAX_HANDSHAKES && !this.#closed) {
          await new Promise<void>((resolve) => (this.#slotFreed = resolve));
        }
        if (this.#closed) return;
        let conn: Deno.TlsConn;
        try {
          conn = await this.#listener.accept();
        } catch (error) {
          if (this.#closed || error instanceof Deno.errors.BadResource) return;
          if (isPeerFailure(error)) continue;
          this.#queue.fail(error);
          return;
        }
        this.#handshake(conn);
      }
    } finally {
      this.#accepting = false;
    }
  }

  #handshake(conn: Deno.TlsConn): void {
    const remote = netAddress(conn.remoteAddr);
    const options = this.#options;
    this.#inFlight++;
    const shaking = conn.handshake();
    // The slot is held until Deno is done with the handshake: only then can the socket close.
    void shaking.then(() => {}, () => {}).then(() => this.#freeSlot(conn));
    const handshake = (async () => {
      if (options.noDelay ?? true) (conn as Partial<Deno.TcpConn>).setNoDelay?.(true);
      const info = await shaking;
      return new DenoStream(conn, options.readBufferSize ?? DEFAULT_READ_BUFFER, {
        alpnProtocol: info.alpnProtocol,
      });
    })();
    this.#queue.begin(remote, handshake, (why) => {
      // close() mid-handshake cancels Deno's handshake but leaves the socket open (see the
      // contract above). A peer that timed out is reported now and closed once its handshake
      // ends, when the peer sends something or goes away; its slot is held until then.
      if (why === "timeout") this.#lingering.add(conn);
      else closeQuietly(conn);
    });
  }

  #freeSlot(conn: Deno.TlsConn): void {
    this.#inFlight--;
    if (this.#lingering.delete(conn)) closeQuietly(conn);
    const wake = this.#slotFreed;
    this.#slotFreed = null;
    wake?.();
  }

  close(): void {
    if (this.#closed) return;
    this.#closed = true;
    for (const conn of this.#lingering) closeQuietly(conn);
    this.#lingering.clear();
    this.#slotFreed?.();
    closeQuietly(this.#listener);
    this.#queue.close();
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
