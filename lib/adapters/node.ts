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
 *   of random sizes arrive intact". `writev` sends many buffers (headers and bodies sent by
 *   reference) between `cork()` and `uncork()`, resolving in the last one's callback (plain
 *   sockets only: not over node:tls, see the constructor).
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
 * TLS is node:tls, in every runtime. Server: `tls.createServer` runs each handshake itself
 * (bounded by its `handshakeTimeout`) and emits 'secureConnection' once it succeeded, which is
 * when a connection is handed out; a failure is 'tlsClientError' (no socket reaches us), reported
 * as a TlsError naming the peer, whose address is read at 'connection' because Deno's node:tls
 * has forgotten it by then (2.9.6, probed). A client that aborts after rejecting our certificate
 * is reported (and its socket let go) only when the handshake timeout ends, as "TLS handshake
 * timeout" (Node 20, probed). Client:
 * `tls.connect` checks the certificate against `servername`, else `host` (an IP address may not
 * be a servername); an error after TCP connected is the handshake's (TlsError), before it the
 * connection's (ConnectError). `allowHalfOpen` is passed through to the TLSSocket (missing from
 * @types/node). STARTTLS: `tls.connect({ socket })` over the open socket, whose listeners come off
 * first. Known runtime bug: Deno 2.9.6's node:tls never emits 'end' for a socket that was paused
 * while the peer's last 64 KiB or more and its FIN arrived (tests/repros/deno_node_tls_end.ts;
 * Node 20 and Bun 1.4.5 are fine), so under Deno a paused TLS reader on this adapter may wait for
 * an end that never comes: Deno's own TLS (the default `api`) has no such bug.
 *
 * Unix sockets: `listen({ path })` refuses an existing file (EADDRINUSE, even when nobody
 * listens) and `close()` removes it; a unix socket has no address to report, so this adapter
 * supplies them (the path) (Node 20, Deno 2.9.6 and Bun 1.4.5, probed). Checked by
 * tests/tls_test.ts, tests/starttls_test.ts and tests/unix_socket_test.ts.
 *
 * @module
 */

import { Buffer } from "node:buffer";
import * as net from "node:net";
import process from "node:process";
import * as tls from "node:tls";
import type { ConnectStreamOptions, ListenStreamsOptions, StreamAdapter } from "../adapter.ts";
import type {
  Address,
  ByteListener,
  ByteStream,
  ByteStreamHandlers,
  TlsInfo,
} from "../byte_stream.ts";
import { HandshakeQueue } from "../_handshake_queue.ts";
import { connectAddress, listenAddress } from "../_target_address.ts";
import { isSocketFile, removeFile } from "./_unix_files.ts";
import { isRefused, listenUnixReclaiming, type UnixPathOps } from "../_unix_socket.ts";
import { WaitQueue } from "../_wait_queue.ts";
import { ConnectError, ConnectionClosedError, ListenError, TlsError } from "../errors.ts";
import { netAddress, unixAddress } from "../net_address.ts";
import { caList, DEFAULT_HANDSHAKE_TIMEOUT, pemText } from "../_tls_internal.ts";
import type { TlsConnectOptions } from "../tls.ts";

// A TLS server's sockets are half-open only once their handshake succeeded: a peer that sends
// FIN mid-handshake must end it at once, not at the timeout (node:tls holds a half-open socket).
// Under Bun, whose node:tls breaks half-close when the flag changes after the handshake, they are
// half-open from the start (Bun reports such a peer promptly anyway).
const HALF_OPEN_AFTER = (globalThis as { Bun?: unknown }).Bun === undefined;

// The longest unix socket path: sun_path is 108 bytes on Linux, 104 on macOS and the BSDs, the
// NUL included. Node 20 cuts a longer path short and listens under the cut name (probed), where
// Deno and Bun refuse it with EINVAL: refused here as they do.
const MAX_UNIX_PATH = process.platform === "linux" ? 107 : 103;

function checkUnixPath(path: string): void {
  const length = Buffer.byteLength(path);
  if (length <= MAX_UNIX_PATH) return;
  throw Object.assign(
    new Error(`a unix socket path may have ${MAX_UNIX_PATH} bytes, this one has ${length}`),
    { code: "EINVAL" },
  );
}

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
  const address = connectAddress(options);
  const tlsOptions = options.tls === true ? {} : options.tls || undefined;
  return new Promise((resolve, reject) => {
    // node:net's errors already say "connect ECONNREFUSED 127.0.0.1:9000"; wrapped all the same,
    // so every adapter fails with one error type and one message shape. An error after TCP
    // connected is the TLS handshake's (a certificate that does not verify, most often).
    let connected = false;
    const fail = (error: unknown) => {
      socket?.destroy();
      reject(connected ? new TlsError(address, error) : new ConnectError(address, error));
    };
    let socket: net.Socket | undefined;
    try {
      if (address.transport === "unix") {
        checkUnixPath(address.path);
        socket = net.connect({ path: address.path, allowHalfOpen: true });
      } else if (tlsOptions === undefined) {
        socket = net.connect({ host: address.hostname, port: address.port, allowHalfOpen: true });
      } else {
        const servername = tlsOptions.servername ??
          (net.isIP(address.hostname) === 0 ? address.hostname : undefined);
        socket = tls.connect({
          host: address.hostname,
          port: address.port,
          // Honoured by node:tls (it passes it to the TLSSocket), missing from @types/node.
          ...({ allowHalfOpen: true } as tls.ConnectionOptions),
          // Never off: a certificate that does not verify fails the handshake.
          rejectUnauthorized: true,
          // node:tls checks the certificate against `servername`, else against `host`.
          ...(servername === undefined ? {} : { servername }),
          ...(tlsOptions.ca === undefined ? {} : { ca: caList(tlsOptions.ca) }),
          ...(tlsOptions.alpn === undefined ? {} : { ALPNProtocols: tlsOptions.alpn }),
        });
      }
    } catch (error) {
      // A bad port throws synchronously (ERR_SOCKET_BAD_PORT).
      return fail(error);
    }
    const s = socket;
    s.once("error", fail);
    // Aborting connect() destroys the socket, connecting or handshaking (the core rejects).
    const abort = () => fail(options.signal!.reason);
    options.signal?.addEventListener("abort", abort, { once: true });
    s.once("close", () => options.signal?.removeEventListener("abort", abort));
    let timer: ReturnType<typeof setTimeout> | undefined;
    s.once("connect", () => {
      connected = true;
      if (tlsOptions === undefined) return;
      // A server that accepts and never answers the ClientHello must not hang connect().
      const ms = tlsOptions.handshakeTimeout ?? DEFAULT_HANDSHAKE_TIMEOUT;
      timer = setTimeout(() => fail(new Error(`no handshake within ${ms} ms`)), ms);
    });
    s.once("close", () => clearTimeout(timer));
    s.once(tlsOptions === undefined ? "connect" : "secureConnect", () => {
      clearTimeout(timer);
      s.off("error", fail);
      options.signal?.removeEventListener("abort", abort);
      const local = address.transport === "unix" ? unixAddress("") : undefined;
      const hostname = address.transport === "tcp" ? address.hostname : undefined;
      resolve(
        new NodeStream(s, { noDelay: options.noDelay ?? true, local, remote: address, hostname }),
      );
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
 * console.log(`listening on ${listener.address}`);
 * ```
 */
export async function listenStreams(options: NodeListenOptions = {}): Promise<ByteListener> {
  const path = options.path;
  try {
    if (path === undefined) return await NodeListener.open(options);
    checkUnixPath(path);
    return await listenUnixReclaiming(path, () => NodeListener.open(options), UNIX_PATHS);
  } catch (error) {
    const address = listenAddress(options);
    throw new ListenError(address, error);
  }
}

const UNIX_PATHS: UnixPathOps = {
  isSocket: isSocketFile,
  isLive: (path) =>
    new Promise((resolve) => {
      const probe = net.connect({ path });
      probe.once("connect", () => {
        probe.destroy();
        resolve(true);
      });
      probe.once("error", (error) => resolve(!isRefused(error)));
    }),
  remove: removeFile,
};

// ── Per-connection classes ───────────────────────────────────────────────────────────────────

interface NodeStreamSettings {
  noDelay: boolean;
  /** The hostname a client connected to: what a STARTTLS upgrade checks by default. */
  hostname?: string;
  /** Set for unix sockets, whose node:net socket has no address of its own to report. */
  local?: Address;
  remote?: Address;
}

class NodeStream implements ByteStream {
  readonly localAddress: Address;
  readonly remoteAddress: Address;
  readonly tls: TlsInfo | undefined;
  readonly #socket: net.Socket;
  readonly #settings: NodeStreamSettings;
  #movedToTls = false;
  #handlers: ByteStreamHandlers | null = null;
  #earlyError: unknown = undefined;
  #closed = false;

  constructor(socket: net.Socket, settings: NodeStreamSettings) {
    this.#socket = socket;
    this.#settings = settings;
    // Nobody consumes yet: let TCP flow control hold the peer until start().
    socket.pause();
    if (settings.local !== undefined && settings.remote !== undefined) {
      this.localAddress = settings.local;
      this.remoteAddress = settings.remote;
    } else {
      socket.setNoDelay(settings.noDelay);
      this.localAddress = netAddress(socket.localAddress ?? "", socket.localPort ?? 0);
      this.remoteAddress = netAddress(socket.remoteAddress ?? "", socket.remotePort ?? 0);
    }
    if (socket instanceof tls.TLSSocket) {
      const protocol = socket.alpnProtocol;
      this.tls = { alpnProtocol: typeof protocol === "string" ? protocol : null };
    } else {
      // Plain sockets only. TLS copies every byte into its records anyway, and under Deno 2.9.6
      // node:tls loses the end of stream of a socket paused while its last 64 KiB and FIN arrive
      // (tests/repros/deno_node_tls_end.ts): the larger bursts writev sends made the reader
      // pause in time for that, and tests/tls_test.ts "write() of many frames then close()
      // without awaiting" hang on it.
      this.writev = (segments) => this.#send(segments);
    }
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

  // node:net keeps `bytes` by reference until the write callback runs, even when write()
  // returned true; resolving earlier let the cork buffer overwrite frames still in flight.
  write(bytes: Uint8Array): Promise<number> {
    return this.#send([bytes]).then(() => bytes.length);
  }

  /** Present on plain TCP and unix sockets: see `#send`. */
  readonly writev?: (segments: readonly Uint8Array[]) => Promise<void>;

  // Writes every segment; resolves in the last one's callback, when node:net holds none of them.
  // Many segments go in one call, none copied: between cork() and uncork() node:net buffers the
  // writes (by reference), and uncork() hands them all to _writev, which libuv writes with one
  // writev(2) (net.Socket.prototype._writev → writevGeneric). Callbacks run in order once the
  // data is written, so the last one says every segment may be reused. Deno's and Bun's node:net
  // take the same calls (Bun without _writev writes them one by one, still by reference).
  #send(segments: readonly Uint8Array[]): Promise<void> {
    const socket = this.#socket;
    if (this.#closed || socket.destroyed || socket.writableEnded) {
      return Promise.reject(new ConnectionClosedError());
    }
    return new Promise((resolve, reject) => {
      let settled = false;
      const done = (error?: unknown) => {
        if (settled) return;
        settled = true;
        socket.off("close", onClose);
        socket.off("error", failed);
        if (error === undefined || error === null) resolve();
        else reject(error);
      };
      const failed = (error?: unknown) => {
        if (error !== undefined && error !== null) done(error);
      };
      // A socket destroyed before the write finishes may never call back: close settles it. And
      // one destroyed by a read error (ECONNRESET) calls back with no error for writes that never
      // reached the peer (Node 20.20, probed: 'error', then every pending callback "ok"), so an
      // 'error' before the callback fails the write.
      const onClose = () => done(new ConnectionClosedError("the connection closed while writing"));
      socket.on("close", onClose);
      socket.on("error", failed);
      const last = segments.length - 1;
      if (last === 0) {
        socket.write(segments[0]!, done);
        return;
      }
      socket.cork();
      for (let i = 0; i < last; i++) socket.write(segments[i]!, failed);
      socket.write(segments[last]!, done);
      socket.uncork();
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

  // tls.connect({ socket }) takes over an open node:net socket (checked in Node 20, Deno 2.9.6's
  // and Bun 1.4.5's node:tls): this stream's listeners come off first, so the ciphertext is read
  // by TLS alone. node:tls checks the certificate against `servername`, else `host`, whose
  // default with `socket` is "localhost": both are set.
  startTls(options: TlsConnectOptions): Promise<ByteStream> {
    const socket = this.#socket;
    const remote = this.remoteAddress;
    if (this.#closed || this.tls !== undefined || remote.transport !== "tcp") {
      return Promise.reject(new TypeError("only an open plain TCP connection can start TLS"));
    }
    this.#closed = true;
    this.#movedToTls = true;
    for (const event of ["data", "end", "error", "close"]) socket.removeAllListeners(event);
    // The raw socket's own errors surface on the TLS socket; none may go unheard.
    socket.on("error", () => {});
    const hostname = this.#settings.hostname ?? remote.hostname;
    const servername = options.servername ?? (net.isIP(hostname) === 0 ? hostname : undefined);
    return new Promise((resolve, reject) => {
      const secure = tls.connect({
        socket,
        host: hostname,
        rejectUnauthorized: true,
        ...(servername === undefined ? {} : { servername }),
        ...(options.ca === undefined ? {} : { ca: caList(options.ca) }),
        ...(options.alpn === undefined ? {} : { ALPNProtocols: options.alpn }),
      });
      const ms = options.handshakeTimeout ?? DEFAULT_HANDSHAKE_TIMEOUT;
      const timer = setTimeout(() => fail(new Error(`no handshake within ${ms} ms`)), ms);
      const fail = (error: unknown) => {
        clearTimeout(timer);
        secure.destroy();
        socket.destroy();
        reject(new TlsError(remote, error));
      };
      secure.once("error", fail);
      secure.once("secureConnect", () => {
        clearTimeout(timer);
        secure.off("error", fail);
        resolve(new NodeStream(secure, { noDelay: false, hostname }));
      });
    });
  }

  close(): void {
    // After startTls() the socket belongs to the TLS stream.
    if (this.#movedToTls) return;
    this.#closed = true;
    this.#socket.destroy();
  }
}

class NodeListener implements ByteListener {
  address: Address = netAddress("", 0);
  readonly #server: net.Server;
  // Plain sockets are handed out as they connect; TLS ones once node:tls finished the handshake.
  readonly #accepted = new WaitQueue<ByteStream>();
  readonly #handshakes: HandshakeQueue | null = null;
  #closed = false;
  // TLS: TCP sockets still shaking hands, destroyed when the listener closes.
  #inFlight: Set<net.Socket> | null = null;

  private constructor(options: NodeListenOptions) {
    const settings = { noDelay: options.noDelay ?? true };
    const tlsOptions = options.tls;
    if (options.path !== undefined) {
      const local = unixAddress(options.path);
      const remote = unixAddress("");
      this.#server = net.createServer({ allowHalfOpen: true, pauseOnConnect: true }, (socket) => {
        this.#accepted.push(new NodeStream(socket, { ...settings, local, remote }));
      });
    } else if (tlsOptions === undefined) {
      this.#server = net.createServer({ allowHalfOpen: true, pauseOnConnect: true }, (socket) => {
        this.#accepted.push(new NodeStream(socket, settings));
      });
    } else {
      // node:tls times handshakes out itself: this queue only collects its outcomes.
      const handshakes = new HandshakeQueue(
        tlsOptions.handshakeTimeout ?? DEFAULT_HANDSHAKE_TIMEOUT,
      );
      this.#handshakes = handshakes;
      // No pauseOnConnect: a paused socket would never finish its handshake.
      const server = tls.createServer({
        allowHalfOpen: !HALF_OPEN_AFTER,
        cert: pemText(tlsOptions.cert),
        key: pemText(tlsOptions.key),
        handshakeTimeout: tlsOptions.handshakeTimeout ?? DEFAULT_HANDSHAKE_TIMEOUT,
        ...(tlsOptions.alpn === undefined ? {} : { ALPNProtocols: tlsOptions.alpn }),
      });
      server.on("secureConnection", (socket) => {
        // Node's 'connection' socket is the TLS socket's _parent; Bun's node:tls hands the TLS
        // socket itself to 'connection' (1.4.5, probed): either one leaves the set.
        const parent = (socket as { _parent?: net.Socket })._parent;
        if (parent !== undefined) this.#inFlight?.delete(parent);
        this.#inFlight?.delete(socket);
        if (HALF_OPEN_AFTER) (socket as unknown as { allowHalfOpen: boolean }).allowHalfOpen = true;
        handshakes.succeeded(new NodeStream(socket, settings));
      });
      // The peer's address, read while the TCP socket is fresh: by 'tlsClientError' Deno's
      // node:tls has already forgotten it (2.9.6, probed).
      const peers = new WeakMap<object, Address>();
      const inFlight = new Set<net.Socket>();
      this.#inFlight = inFlight;
      server.on("connection", (raw: net.Socket) => {
        peers.set(raw, netAddress(raw.remoteAddress ?? "", raw.remotePort ?? 0));
        inFlight.add(raw);
        raw.once("close", () => inFlight.delete(raw));
      });
      // A failed or timed-out handshake (ERR_TLS_HANDSHAKE_TIMEOUT). With a 'tlsClientError'
      // listener node:tls leaves the socket open (fastify/fastify#3251): it is destroyed here.
      server.on("tlsClientError", (error, socket) => {
        const raw = (socket as { _parent?: object })._parent;
        const remote = (raw === undefined ? undefined : peers.get(raw)) ??
          netAddress(socket.remoteAddress ?? "", socket.remotePort ?? 0);
        handshakes.fail(new TlsError(remote, error));
        socket.destroy();
      });
      this.#server = server;
    }
  }

  /** Creates and binds a listener. */
  static open(options: NodeListenOptions): Promise<NodeListener> {
    const listener = new NodeListener(options);
    const server = listener.#server;
    return new Promise((resolve, reject) => {
      server.once("error", reject);
      const where = options.path !== undefined ? { path: options.path } : {
        host: options.hostname ?? "127.0.0.1",
        port: options.port ?? 0,
        ...(options.reusePort ? { reusePort: true } : {}),
      };
      server.listen(where, () => {
        server.off("error", reject);
        // Accept failures (EMFILE and the like) must not crash the process; node retries.
        server.on("error", () => {});
        const address = server.address();
        listener.address = typeof address === "string" || address === null
          ? unixAddress(options.path ?? String(address))
          : netAddress(address.address, address.port);
        resolve(listener);
      });
    });
  }

  accept(): Promise<ByteStream | null> {
    return this.#handshakes?.next() ?? this.#accepted.next();
  }

  close(): void {
    if (this.#closed) return;
    this.#closed = true;
    this.#server.close();
    this.#accepted.close();
    // Connections that arrived but were never accept()ed belong to nobody: close them.
    for (let stream; (stream = this.#accepted.take()) !== undefined;) stream.close();
    this.#handshakes?.close();
    for (const raw of this.#inFlight ?? []) raw.destroy();
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
