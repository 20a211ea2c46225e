/**
 * The small connection shape every runtime adapter provides, and the only thing the core knows
 * about sockets: bytes pushed in with pause/resume, bytes written out through a {@linkcode Writer}.
 *
 * @module
 */

import type { Writer } from "./send.ts";

/**
 * A host and port. The addresses framed hands out (`localAddress`, `remoteAddress`, a listener's
 * `address`, a datagram's `remote`) are made by {@linkcode netAddress} and print as
 * `127.0.0.1:9000` or `[::1]:9000` in template strings.
 */
export interface NetAddress {
  /** An IP address such as `"127.0.0.1"` or `"::1"` (no brackets). */
  readonly hostname: string;
  /** The TCP or UDP port. */
  readonly port: number;
  /** `"127.0.0.1:9000"`, or `"[::1]:9000"` for IPv6. A plain `{ hostname, port }` object also fits. */
  toString(): string;
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
 * One TCP connection as the core sees it. Adapters for Deno, Bun and Node's net module implement it; so can
 * anything else (a TLS socket, a Unix socket, an in-memory pipe in a test).
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
  readonly localAddress: NetAddress;
  /** The peer's end of the connection. */
  readonly remoteAddress: NetAddress;
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
}

/** A listening socket that hands out {@linkcode ByteStream}s. */
export interface ByteListener {
  /** Where it listens; `port` is the real port when 0 was asked for. */
  readonly address: NetAddress;
  /** Waits for the next connection; `null` once the listener is closed. */
  accept(): Promise<ByteStream | null>;
  /** Stops listening. Connections already accepted stay open. Idempotent. */
  close(): void;
}
