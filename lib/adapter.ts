/**
 * The contract every runtime adapter satisfies, and the option shapes it takes, written once. The
 * entry points (`connect`, `listen`, `serve`, `bindDatagram`) load one adapter of each kind for the
 * running runtime; each adapter file exports its implementation typed as one of these.
 *
 * @module
 */

import type { ByteListener, ByteStream } from "./byte_stream.ts";
import type { BindDatagramOptions, DatagramSocket } from "./datagram.ts";
import type { TlsConnectOptions, TlsListenOptions } from "./tls.ts";

/** Where and how to connect over TCP, optionally with TLS: one of {@linkcode ConnectStreamOptions}. */
export interface TcpConnectOptions {
  /** Default `"127.0.0.1"`. */
  hostname?: string;
  /** The port to connect to. */
  port: number;
  /** Disable Nagle's algorithm. Default `true` (Deno would leave it on). */
  noDelay?: boolean;
  /**
   * Speak TLS: `true` trusts the system's roots and checks the certificate against `hostname`;
   * an object names the CA, the name to check, ALPN. The handshake finishes before the
   * connection is returned; a failed one rejects with `TlsError`.
   */
  tls?: boolean | TlsConnectOptions;
  /** Only for unix sockets. */
  path?: undefined;
  /**
   * Stops connecting when aborted: the adapter closes the socket it is opening (or handshaking).
   * `connect()` and `connectStream()` then reject with the signal's reason.
   */
  signal?: AbortSignal;
}

/** Where to connect over a unix domain socket: one of {@linkcode ConnectStreamOptions}. */
export interface UnixConnectOptions {
  /** The socket file's path. */
  path: string;
  /** Only for TCP. */
  hostname?: undefined;
  /** Only for TCP. */
  port?: undefined;
  /** Only for TCP (no runtime offers TLS over unix sockets everywhere). */
  tls?: undefined;
  /** Only for TCP. */
  noDelay?: undefined;
  /**
   * Stops connecting when aborted: the adapter closes the socket it is opening (or handshaking).
   * `connect()` and `connectStream()` then reject with the signal's reason.
   */
  signal?: AbortSignal;
}

/** Where and how to connect: what every adapter's `connectStream` takes. TCP (TLS) or unix. */
export type ConnectStreamOptions = TcpConnectOptions | UnixConnectOptions;

/** Where and how to listen on TCP, optionally with TLS: one of {@linkcode ListenStreamsOptions}. */
export interface TcpListenOptions {
  /** Default `"127.0.0.1"`: only this machine can connect. */
  hostname?: string;
  /** Default 0: the system picks a free port. */
  port?: number;
  /**
   * Let several processes listen on the same port (Linux SO_REUSEPORT); the kernel spreads new
   * connections across them. Deno needs `--unstable-net` for it; Node's net module needs Node 22.12+.
   */
  reusePort?: boolean;
  /** Disable Nagle's algorithm on accepted connections. Default `true`. */
  noDelay?: boolean;
  /**
   * Speak TLS with this certificate and key. Connections are handed out once their handshake
   * has succeeded; a failed or slow handshake (see `handshakeTimeout`) drops only that peer.
   */
  tls?: TlsListenOptions;
  /** Only for unix sockets. */
  path?: undefined;
}

/**
 * Where to listen on a unix domain socket: one of {@linkcode ListenStreamsOptions}. A socket file
 * left by a process that died (nobody accepts on it) is removed and replaced; a live one, or a
 * file that is not a socket, fails with `ListenError` (EADDRINUSE). The file is removed when the
 * listener closes.
 */
export interface UnixListenOptions {
  /** The socket file's path. */
  path: string;
  /** Only for TCP. */
  hostname?: undefined;
  /** Only for TCP. */
  port?: undefined;
  /** Only for TCP. */
  reusePort?: undefined;
  /** Only for TCP. */
  noDelay?: undefined;
  /** Only for TCP. */
  tls?: undefined;
}

/** Where and how to listen: what every adapter's `listenStreams` takes. TCP (TLS) or unix. */
export type ListenStreamsOptions = TcpListenOptions | UnixListenOptions;

/**
 * A runtime's stream sockets (TCP, TLS, unix) as byte streams. `lib/adapters/deno.ts`, `bun.ts` and `node.ts` each
 * export one as `streamAdapter`.
 *
 * @example An adapter of your own (say, for tests) has this shape
 * ```ts
 * import { type StreamAdapter } from "@nianbao/framed";
 *
 * const refusing: StreamAdapter = {
 *   connectStream: () => Promise.reject(new Error("no network here")),
 *   listenStreams: () => Promise.reject(new Error("no network here")),
 * };
 * if (typeof refusing.connectStream !== "function") throw new Error("not an adapter");
 * ```
 */
export interface StreamAdapter {
  /** Connects and returns the connection as a {@linkcode ByteStream}. */
  connectStream(options: ConnectStreamOptions): Promise<ByteStream>;
  /** Listens and hands out accepted connections as {@linkcode ByteStream}s. */
  listenStreams(options?: ListenStreamsOptions): Promise<ByteListener>;
}

/**
 * A runtime's UDP sockets. `lib/adapters/udp_deno.ts`, `udp_bun.ts` and `udp_node.ts` each export
 * one as `datagramAdapter`.
 *
 * @example
 * ```ts
 * import { type DatagramAdapter } from "@nianbao/framed";
 *
 * const none: DatagramAdapter = { bindDatagram: () => Promise.reject(new Error("no UDP")) };
 * if (typeof none.bindDatagram !== "function") throw new Error("not an adapter");
 * ```
 */
export interface DatagramAdapter {
  /** Binds a UDP socket. */
  bindDatagram(options?: BindDatagramOptions): Promise<DatagramSocket>;
}
