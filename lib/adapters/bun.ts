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
 * Reading: Bun copies each read into a new buffer for the `data` callback, whatever the
 * `binaryType` ("This clones bytes": `BinaryType.toJS`, oven-sh/bun src/bun.js/jsc/
 * array_buffer.zig), up to 512 KiB per read (LIBUS_RECV_BUFFER_LENGTH, packages/bun-usockets/
 * src/loop.c), and that ArrayBuffer holds exactly the chunk (offset 0, same length: 1.4.5,
 * probed for each binaryType, 10 B to 300 KB). Left to the GC, those chunks made a 1 GiB receive
 * in 64 KiB frames peak at 73 to 86 MiB RSS (27 MiB idle; a bare `Bun.listen` receiver: 65 to
 * 81). So a chunk the core keeps no reference into (`data` returned false) is detached at once
 * with `ArrayBuffer.prototype.transfer(0)` (JavaScriptCore drops the old contents then:
 * WebKit/WebKit@fe0aa79): 46 MiB, and less CPU (issue 13). Not while reading is paused: a lending
 * reader returns false and pauses while its frames view the chunk, until its next read (and a
 * paused TLS socket still delivers the rest of a decrypted read, 1.4.5). Without that rule the
 * conformance test "20,000 frames of random sizes lent by a borrowing FrameReader stay intact
 * until the next read" fails. So `false` must mean no view of the chunk at all, not even an empty
 * one (using a view of a detached buffer throws), and a frame kept past its contract reads as
 * empty rather than changed; tests/read_buffer_test.ts checks kept frames.
 *
 * Bun's types are declared structurally in `_bun_types.ts` (checked against bun-types in CI).
 *
 * Accepting: `Bun.listen` has no accept call that could fail. A peer that connects and resets
 * before it is accepted still gets `open`, then `close` with ECONNRESET; no other connection
 * notices, so a reset peer is one short-lived stream here, never an error of the listener.
 * Probed on Bun 1.4.5 with 50 SO_LINGER-0 peers queued while the event loop was blocked: 50
 * `open`, 50 `close` (ECONNRESET); checked by tests/accept_errors_test.ts.
 *
 * TLS (1.4.5, probed): `Bun.connect` with `tls` resolves once TCP is connected; the handshake ends
 * in the `handshake(socket, success, authorizationError)` callback, where a client that could not
 * verify the server (rejectUnauthorized, on by default) gets `success` false ("unable to verify
 * the first certificate", "Hostname/IP does not match certificate's altnames", "certificate has
 * expired"); connect here awaits it. A server socket is `open`ed before its handshake, and a
 * `write` then returns 0 and sends nothing: TLS connections are handed out only after their
 * handshake succeeded. A paused TLS socket never finishes its handshake, so TLS sockets are
 * paused only after it. ALPN names go in the wire format (a length byte before each): an array
 * is refused, a plain string is not negotiated. `upgradeTLS` (STARTTLS) opens the TLS socket at
 * once; the raw socket's callbacks keep firing, with ciphertext, and are ignored.
 *
 * Unix sockets: `Bun.listen({ unix })` refuses an existing file (EADDRINUSE, even when nobody
 * listens) and removes it on `stop()`; a unix socket's addresses read null, so this adapter
 * supplies them (the path). Checked by tests/tls_test.ts, tests/starttls_test.ts and
 * tests/unix_socket_test.ts.
 *
 * @module
 */

import type { ConnectStreamOptions, ListenStreamsOptions, StreamAdapter } from "../adapter.ts";
import type {
  Address,
  ByteListener,
  ByteStream,
  ByteStreamHandlers,
  NetAddress,
  TlsInfo,
} from "../byte_stream.ts";
import { HandshakeQueue } from "../_handshake_queue.ts";
import { connectAddress, listenAddress } from "../_target_address.ts";
import { isSocketFile, removeFile } from "./_unix_files.ts";
import { isRefused, listenUnixReclaiming, type UnixPathOps } from "../_unix_socket.ts";
import { WaitQueue } from "../_wait_queue.ts";
import { ConnectError, ConnectionClosedError, ListenError, TlsError } from "../errors.ts";
import { netAddress, unixAddress } from "../net_address.ts";
import { caList, DEFAULT_HANDSHAKE_TIMEOUT, handshakeWithin, pemText } from "../_tls_internal.ts";
import type { TlsConnectOptions } from "../tls.ts";
import {
  bun,
  type BunListener as BunServer,
  type BunSocket as BunSocketOf,
  type BunSocketHandler as BunSocketHandlerOf,
  type BunTlsOptions,
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
  const tls = options.tls === true ? {} : options.tls || undefined;
  const address = connectAddress(options);
  const socket = socketHandler((s) => (stream = s), {
    noDelay: options.path === undefined && (options.noDelay ?? true),
    tls: tls !== undefined,
    ...(address.transport === "tcp" ? { hostname: address.hostname } : {}),
    ...(address.transport === "unix" ? { unix: { local: unixAddress(""), remote: address } } : {}),
  });
  try {
    // Bun.connect rejects with an Error whose `code` is the errno ("ECONNREFUSED", "ENOTFOUND")
    // and whose message is only "Failed to connect" (1.4.5, probed): the address is added here.
    // Half-close must work both ways: a client may send FIN and still read the reply.
    if (address.transport === "unix") {
      await bun().connect({ unix: address.path, allowHalfOpen: true, socket });
    } else {
      await bun().connect({
        hostname: address.hostname,
        port: address.port,
        allowHalfOpen: true,
        socket,
        ...(tls === undefined ? {} : { tls: clientTls(tls, address.hostname) }),
      });
    }
  } catch (error) {
    throw new ConnectError(address, error);
  }
  if (tls !== undefined) {
    // Bun.connect resolves once TCP is connected; the handshake (and the certificate check,
    // rejectUnauthorized) ends in the `handshake` callback.
    const timeout = tls.handshakeTimeout ?? DEFAULT_HANDSHAKE_TIMEOUT;
    // Aborting connect() mid-handshake closes the socket, also when it came during Bun.connect.
    // Bun.connect itself takes no signal (1.4.5): a socket that connects after an abort is
    // closed by the core.
    const drop = () => stream!.close();
    options.signal?.addEventListener("abort", drop, { once: true });
    if (options.signal?.aborted) drop();
    try {
      await handshakeWithin(timeout, stream!.handshaken, () => stream!.close());
    } catch (error) {
      stream!.close();
      throw new TlsError(address, error);
    } finally {
      options.signal?.removeEventListener("abort", drop);
    }
  }
  return stream!;
}

function clientTls(tls: TlsConnectOptions, hostname: string): BunTlsOptions {
  return {
    // Never off: a certificate that does not verify fails the handshake.
    rejectUnauthorized: true,
    serverName: tls.servername ?? hostname,
    ...(tls.ca === undefined ? {} : { ca: caList(tls.ca) }),
    ...(tls.alpn === undefined ? {} : { ALPNProtocols: alpnWire(tls.alpn) }),
  };
}

// Bun takes ALPN protocols only in the wire format (1.4.5, probed: an array is refused, a plain
// string is not negotiated): each name preceded by its length in one byte.
function alpnWire(protocols: string[]): Uint8Array {
  const names = protocols.map((name) => new TextEncoder().encode(name));
  const wire = new Uint8Array(names.reduce((sum, name) => sum + 1 + name.length, 0));
  let at = 0;
  for (const name of names) {
    if (name.length === 0 || name.length > 255) {
      throw new RangeError(`an ALPN protocol name must be 1 to 255 bytes, not ${name.length}`);
    }
    wire[at++] = name.length;
    wire.set(name, at);
    at += name.length;
  }
  return wire;
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
 * console.log(`listening on ${listener.address}`);
 * ```
 */
export async function listenStreams(options: BunListenOptions = {}): Promise<ByteListener> {
  const path = options.path;
  const address = listenAddress(options);
  try {
    if (path === undefined) return new BunListener(options);
    return await listenUnixReclaiming(path, () => new BunListener(options), UNIX_PATHS);
  } catch (error) {
    // Bun.listen throws synchronously, code "EADDRINUSE", message "Failed to listen at 127.0.0.1".
    throw new ListenError(address, error);
  }
}

const UNIX_PATHS: UnixPathOps = {
  isSocket: isSocketFile,
  async isLive(path) {
    try {
      // Bun refuses a handler without `data` or `drain` (TypeError, 1.4.5, probed).
      const socket = await bun().connect({ unix: path, socket: { data() {} } });
      socket.end();
      return true;
    } catch (error) {
      return !isRefused(error);
    }
  },
  remove: removeFile,
};

interface SocketSettings {
  noDelay: boolean;
  tls: boolean;
  /** The hostname a client connected to: what a STARTTLS upgrade checks by default. */
  hostname?: string;
  /** A unix socket's ends: Bun reports null for a unix socket's addresses (1.4.5, probed). */
  unix?: { local: Address; remote: Address };
}

function socketHandler(
  onOpen: (stream: BunStream) => void,
  settings: SocketSettings,
): BunSocketHandler {
  return {
    open(socket) {
      const stream = new BunStream(socket, settings);
      socket.data = stream;
      onOpen(stream);
    },
    handshake: (socket, success, error) => socket.data?.onHandshake(success, error),
    data: (socket, chunk) => socket.data?.onData(chunk),
    drain: (socket) => socket.data?.onDrain(),
    end: (socket) => socket.data?.onEnd(),
    close: (socket, error) => socket.data?.onClose(error),
    error: (socket, error) => socket.data?.onClose(error),
  };
}

// ── Per-connection classes ───────────────────────────────────────────────────────────────────

class BunStream implements ByteStream {
  readonly localAddress: Address;
  readonly remoteAddress: Address;
  tls: TlsInfo | undefined;
  /** Settles when a TLS socket's handshake ends (unused for plain sockets). */
  readonly handshaken: Promise<void>;
  #handshakeDone: ((error?: unknown) => void) | null = null;
  readonly #socket: BunSocket;
  readonly #settings: SocketSettings;
  // After a STARTTLS upgrade the raw socket still calls this stream's callbacks (with ciphertext:
  // Bun 1.4.5, probed); they are ignored from then on.
  #movedToTls = false;
  #handlers: ByteStreamHandlers | null = null;
  // What arrived before start(): kept, in order, so no byte is lost.
  #early: Uint8Array[] = [];
  #earlyEnd: { error?: unknown } | null = null;
  #drain: { promise: Promise<void>; resolve(): void; reject(error: unknown): void } | null = null;
  #paused = false;
  #closed = false;

  constructor(socket: BunSocket, settings: SocketSettings) {
    this.#socket = socket;
    this.#settings = settings;
    if (settings.noDelay) socket.setNoDelay(true);
    if (settings.unix !== undefined) {
      this.localAddress = settings.unix.local;
      this.remoteAddress = settings.unix.remote;
    } else {
      this.localAddress = netAddress(socket.localAddress, socket.localPort);
      this.remoteAddress = netAddress(socket.remoteAddress, socket.remotePort);
    }
    this.handshaken = settings.tls
      ? new Promise((resolve, reject) => {
        this.#handshakeDone = (error) => (error === undefined ? resolve() : reject(error));
      })
      : Promise.resolve();
    // Nobody consumes yet: let TCP flow control hold the peer until start(). A TLS socket must
    // keep reading until its handshake is done (a paused one never finishes it: 1.4.5, probed);
    // it pauses then.
    if (!settings.tls) socket.pause();
  }

  start(handlers: ByteStreamHandlers): void {
    this.#handlers = handlers;
    for (const chunk of this.#early.splice(0)) this.#deliver(chunk);
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
    if (this.#movedToTls) return;
    const bytes = new Uint8Array(chunk.buffer, chunk.byteOffset, chunk.byteLength);
    if (this.#handlers === null) this.#early.push(bytes);
    else this.#deliver(bytes);
  }

  #deliver(bytes: Uint8Array): void {
    // Bun allocates every chunk and its GC lags far behind: free the ones the core is done with
    // (see top). A paused reader may still lend frames that view the chunk.
    if (!this.#handlers!.data(bytes) && !this.#paused) release(bytes);
  }

  // Bun calls `handshake` once per TLS socket. On a client, success is false when the certificate
  // did not verify (rejectUnauthorized), with the reason in `error`; a server that asks for no
  // client certificate may get success true with an "unable to get issuer certificate" error
  // about the client's (absent) certificate, which is not a failure (1.4.5, probed).
  onHandshake(success: boolean, error: Error | null): void {
    const done = this.#handshakeDone;
    this.#handshakeDone = null;
    if (done === null) return;
    if (success) {
      const protocol = this.#socket.alpnProtocol;
      this.tls = { alpnProtocol: typeof protocol === "string" ? protocol : null };
      if (this.#handlers === null) this.#socket.pause();
      done();
    } else {
      done(error ?? new Error("the TLS handshake failed"));
    }
  }

  onDrain(): void {
    const drain = this.#drain;
    this.#drain = null;
    drain?.resolve();
  }

  onEnd(): void {
    if (this.#movedToTls) return;
    if (this.#handlers === null) this.#earlyEnd ??= {};
    else this.#handlers.end();
  }

  onClose(error?: unknown): void {
    if (this.#movedToTls) return;
    const wasClosed = this.#closed;
    this.#closed = true;
    this.#handshakeDone?.(
      error ?? new Error("the connection closed before the TLS handshake finished"),
    );
    this.#handshakeDone = null;
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

  // Bun's upgradeTLS wraps the open socket in TLS and calls the new handler's `open` at once
  // (1.4.5, probed); the handshake then ends in `handshake`, as for Bun.connect with `tls`.
  async startTls(options: TlsConnectOptions): Promise<ByteStream> {
    if (this.#closed || this.tls !== undefined || this.#settings.unix !== undefined) {
      throw new TypeError("only an open plain TCP connection can start TLS");
    }
    this.#closed = true;
    this.#movedToTls = true;
    const remote = this.remoteAddress as NetAddress;
    const hostname = this.#settings.hostname ?? remote.hostname;
    let stream: BunStream | undefined;
    try {
      this.#socket.upgradeTLS<BunStream | undefined>({
        data: undefined,
        tls: clientTls(options, hostname),
        socket: socketHandler((s) => (stream = s), { noDelay: false, tls: true, hostname }),
      });
      if (stream === undefined) throw new Error("Bun did not open the TLS socket");
      const opened = stream;
      const timeout = options.handshakeTimeout ?? DEFAULT_HANDSHAKE_TIMEOUT;
      await handshakeWithin(timeout, opened.handshaken, () => opened.close());
    } catch (error) {
      stream?.close();
      this.#socket.end();
      throw new TlsError(remote, error);
    }
    return stream;
  }

  /** Drops the socket at once with a reset. */
  terminate(): void {
    if (this.#closed) return;
    this.#closed = true;
    this.#handshakeDone?.(
      new Error("the connection was dropped before the TLS handshake finished"),
    );
    this.#handshakeDone = null;
    this.#socket.terminate();
  }

  close(): void {
    if (this.#closed) return;
    this.#closed = true;
    this.#drain?.reject(new ConnectionClosedError());
    this.#drain = null;
    this.#socket.end();
  }
}

// Frees a chunk's memory now by detaching its ArrayBuffer, when that holds the chunk alone.
function release(bytes: Uint8Array): void {
  const buffer = bytes.buffer;
  if (
    buffer instanceof ArrayBuffer && bytes.byteOffset === 0 &&
    bytes.byteLength === buffer.byteLength && typeof buffer.transfer === "function" &&
    !buffer.detached
  ) buffer.transfer(0);
}

class BunListener implements ByteListener {
  readonly address: Address;
  readonly #server: BunServer;
  // Plain sockets are handed out as they open; TLS ones once their handshake succeeded.
  readonly #accepted = new WaitQueue<ByteStream>();
  readonly #handshakes: HandshakeQueue | null;
  #closed = false;

  constructor(options: BunListenOptions) {
    const tls = options.tls;
    const handshakes = tls === undefined
      ? null
      : new HandshakeQueue(tls.handshakeTimeout ?? DEFAULT_HANDSHAKE_TIMEOUT);
    const onOpen = (stream: BunStream) => {
      if (handshakes === null) {
        this.#accepted.push(stream);
        return;
      }
      // A peer dropped before its handshake finished gets a reset, not a graceful FIN that a
      // silent peer would never answer.
      handshakes.begin(stream.remoteAddress, stream.handshaken.then(() => stream), () => {
        stream.terminate();
      });
    };
    const path = options.path;
    // Bun reports null addresses for a unix socket: its ends are the path and an unnamed client.
    const settings: SocketSettings = path === undefined
      ? { noDelay: options.noDelay ?? true, tls: tls !== undefined }
      : { noDelay: false, tls: false, unix: { local: unixAddress(path), remote: unixAddress("") } };
    const common = { allowHalfOpen: true, socket: socketHandler(onOpen, settings) };
    if (options.path !== undefined) {
      const server = bun().listen({ unix: options.path, ...common });
      this.address = unixAddress(server.unix);
      this.#server = server;
    } else {
      const server = bun().listen({
        hostname: options.hostname ?? "127.0.0.1",
        port: options.port ?? 0,
        ...(options.reusePort ? { reusePort: true } : {}),
        ...common,
        ...(tls === undefined ? {} : {
          tls: {
            cert: pemText(tls.cert),
            key: pemText(tls.key),
            ...(tls.alpn === undefined ? {} : { ALPNProtocols: alpnWire(tls.alpn) }),
          },
        }),
      });
      this.address = netAddress(server.hostname, server.port);
      this.#server = server;
    }
    this.#handshakes = handshakes;
  }

  accept(): Promise<ByteStream | null> {
    return this.#handshakes?.next() ?? this.#accepted.next();
  }

  close(): void {
    if (this.#closed) return;
    this.#closed = true;
    // Stop listening only; accepted connections stay open.
    this.#server.stop(false);
    this.#accepted.close();
    // Connections that arrived but were never accept()ed belong to nobody: close them.
    for (let stream; (stream = this.#accepted.take()) !== undefined;) stream.close();
    this.#handshakes?.close();
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
