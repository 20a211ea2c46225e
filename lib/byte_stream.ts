/**
 * The small connection shape every runtime adapter provides, and the only thing the core knows
 * about sockets: bytes pushed in with pause/resume, bytes written out through a {@linkcode Writer}.
 *
 * @module
 */

import type { ProxyInfo } from "./proxy_protocol.ts";
import type { Writer } from "./send.ts";
import type { TlsConnectOptions } from "./tls.ts";

/**
 * A host and port. The addresses framed hands out (`localAddress`, `remoteAddress`, a listener's
 * `address`, a datagram's `remote`) are made by {@linkcode netAddress} and print as
 * `127.0.0.1:9000` or `[::1]:9000` in template strings.
 */
export interface NetAddress {
  /** `"tcp"` for stream connections (TLS included), `"udp"` for datagrams. */
  readonly transport: "tcp" | "udp";
  /** An IP address such as `"127.0.0.1"` or `"::1"` (no brackets). */
  readonly hostname: string;
  /** The TCP or UDP port. */
  readonly port: number;
  /** `"127.0.0.1:9000"`, or `"[::1]:9000"` for IPv6. */
  toString(): string;
}

/**
 * A unix domain socket's address, made by {@linkcode unixAddress}: prints as `unix:/run/app.sock`.
 * The client end of an accepted unix connection usually has no name: its `path` is `""`.
 */
export interface UnixAddress {
  /** Always `"unix"`. */
  readonly transport: "unix";
  /** The socket file's path, or `""` for an unnamed socket. */
  readonly path: string;
  /** `"unix:/run/app.sock"`. */
  toString(): string;
}

/** Either kind of stream address; tell them apart by `transport`. */
export type Address = NetAddress | UnixAddress;

/**
 * What a TLS connection agreed on in its handshake. Present on a {@linkcode ByteStream} (and a
 * `FramedConn`) only when the connection is TLS, and only once the handshake has succeeded.
 */
export interface TlsInfo {
  /** The ALPN protocol both sides chose, or `null` when none was negotiated. */
  readonly alpnProtocol: string | null;
}

/** What a {@linkcode ByteStream} calls as bytes arrive. */
export interface ByteStreamHandlers {
  /**
   * Called with every chunk received.
   * @returns `true` when the callee kept a reference into `chunk`, so the adapter must not reuse
   * its buffer for the next read.
   */
  data(chunk: Uint8Array): boolean;
  /** The peer closed its sending side (EOF). No more `data` follows. */
  end(): void;
  /** The connection failed (for example, reset by the peer). No more calls follow. */
  error(error: unknown): void;
}

/**
 * One connection as the core sees it: TCP, TLS or a unix socket. Adapters for Deno, Bun and Node's
 * net module implement it; so can anything else (an in-memory pipe in a test).
 *
 * `write` may accept only part of a buffer but never zero bytes: when the socket is full it waits
 * (on Bun, for `drain`) and then writes.
 *
 * @example A ByteStream is all a FramedConn needs
 * ```ts ignore
 * import { FramedConn, lengthPrefix } from "@nianbao/framed";
 * import { connectStream } from "@nianbao/framed/deno";
 *
 * const stream = await connectStream({ hostname: "127.0.0.1", port: 8000 });
 * const conn = new FramedConn(stream, lengthPrefix());
 * ```
 */
export interface ByteStream extends Writer {
  /** The local end of the connection. */
  readonly localAddress: Address;
  /** The peer's end of the connection. */
  readonly remoteAddress: Address;
  /** The handshake's outcome when the connection is TLS; `undefined` for plain TCP and unix. */
  readonly tls?: TlsInfo;
  /**
   * The PROXY header the connection began with, on a listener with `proxyProtocol`; `undefined`
   * otherwise. `remoteAddress` is then the original client it names.
   */
  readonly proxy?: ProxyInfo;
  /** Starts delivering received bytes. Called once; bytes that arrived earlier are kept for it. */
  start(handlers: ByteStreamHandlers): void;
  /** Stops reading from the socket until `resume`, so the kernel applies TCP flow control. */
  pause(): void;
  /** Reads again after `pause`. */
  resume(): void;
  /** Sends FIN after everything written so far; reading continues (half-close). */
  closeWrite(): Promise<void>;
  /** Closes both directions now. Idempotent. */
  close(): void;
  /**
   * Starts TLS on this plain TCP connection as the client (STARTTLS) and returns the TLS stream
   * once its handshake has succeeded; this stream is then done with (closing it does nothing).
   * Call it only while nothing is being read (paused, or not started): the handshake's bytes must
   * reach the runtime's TLS, not this stream. The name checked defaults to the hostname
   * connected to. Absent where the transport cannot (unix sockets, in-memory streams).
   * @throws {TlsError} When the handshake fails; the connection is closed.
   */
  startTls?(options: TlsConnectOptions): Promise<ByteStream>;
}

/**
 * A listening socket that hands out {@linkcode ByteStream}s. `A` is the kind of address it
 * listens on: {@linkcode NetAddress} for TCP and TLS, {@linkcode UnixAddress} for a unix socket.
 */
export interface ByteListener<A extends Address = Address> {
  /** Where it listens; `port` is the real port when 0 was asked for. */
  readonly address: A;
  /**
   * Waits for the next connection; `null` once the listener is closed. A TLS listener hands out
   * a connection once its handshake has succeeded, and throws a `TlsError` for one that failed
   * (that peer alone is dropped; call `accept()` again); one with `proxyProtocol` likewise, once
   * the PROXY header has been read, throwing a `ProxyProtocolError`.
   */
  accept(): Promise<ByteStream | null>;
  /** Stops listening. Connections already accepted stay open. Idempotent. */
  close(): void;
}
