/**
 * The contract every runtime adapter satisfies, and the option shapes it takes, written once. The
 * entry points (`connect`, `listen`, `serve`, `bindDatagram`) load one adapter of each kind for the
 * running runtime; each adapter file exports its implementation typed as one of these.
 *
 * @module
 */

import type { ByteListener, ByteStream } from "./byte_stream.ts";
import type { BindDatagramOptions, DatagramSocket } from "./datagram.ts";

/** Where and how to connect: what every adapter's `connectStream` takes. */
export interface ConnectStreamOptions {
  /** Default `"127.0.0.1"`. */
  hostname?: string;
  /** The port to connect to. */
  port: number;
  /** Disable Nagle's algorithm. Default `true` (Deno would leave it on). */
  noDelay?: boolean;
}

/** Where and how to listen: what every adapter's `listenStreams` takes. */
export interface ListenStreamsOptions {
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
}

/**
 * A runtime's TCP sockets as byte streams. `lib/adapters/deno.ts`, `bun.ts` and `node.ts` each
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
