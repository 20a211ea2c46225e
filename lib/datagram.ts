/**
 * UDP datagrams: the other half of the socket tutorial. Each datagram arrives whole, as one
 * message, so UDP has no sticky packets; but a datagram can be lost, duplicated or reordered, and
 * nothing is acknowledged.
 *
 * @module
 */

import type { NetAddress } from "./byte_stream.ts";

/** Where a datagram goes: a host and port (a received datagram's `remote` will do). */
export interface DatagramTarget {
  /** An IP address or host name. */
  readonly hostname: string;
  /** The UDP port. */
  readonly port: number;
}
import { FramedError } from "./errors.ts";

/**
 * The largest UDP payload over IPv4: 65,535 − 8 (UDP header) − 20 (IP header) = 65,507 bytes.
 *
 * @example
 * ```ts
 * import { MAX_DATAGRAM_PAYLOAD } from "@nianbao/framed";
 *
 * if (MAX_DATAGRAM_PAYLOAD !== 65_507) throw new Error("IPv4's limit");
 * ```
 */
export const MAX_DATAGRAM_PAYLOAD = 65_507;

/**
 * A datagram over {@linkcode MAX_DATAGRAM_PAYLOAD} was refused before anything was sent.
 *
 * @example
 * ```ts
 * import { DatagramTooLargeError } from "@nianbao/framed";
 *
 * const error = new DatagramTooLargeError(70_000);
 * if (error.length !== 70_000 || error.code !== "DATAGRAM_TOO_LARGE") throw new Error("lost facts");
 * ```
 */
export class DatagramTooLargeError extends FramedError {
  /** The refused payload's length. */
  readonly length: number;

  /**
   * Creates the error.
   *
   * @param length The refused payload's length.
   */
  constructor(length: number) {
    super(
      "DATAGRAM_TOO_LARGE",
      `a UDP datagram carries at most ${MAX_DATAGRAM_PAYLOAD} bytes of payload; refusing ${length}`,
    );
    this.length = length;
  }
}

/**
 * Refuses a payload that cannot fit in one UDP datagram. Empty payloads are valid datagrams.
 *
 * @param payload The bytes to send.
 * @throws {DatagramTooLargeError} When `payload` is over 65,507 bytes.
 *
 * @example
 * ```ts
 * import { checkDatagram, DatagramTooLargeError } from "@nianbao/framed";
 *
 * checkDatagram(new Uint8Array(0)); // fine: an empty datagram
 * try {
 *   checkDatagram(new Uint8Array(65_508));
 *   throw new Error("should have been refused");
 * } catch (error) {
 *   if (!(error instanceof DatagramTooLargeError)) throw error;
 * }
 * ```
 */
export function checkDatagram(payload: Uint8Array): void {
  if (payload.length > MAX_DATAGRAM_PAYLOAD) throw new DatagramTooLargeError(payload.length);
}

/**
 * How many bytes of received datagrams a socket holds for `receive()` by default: 4 MiB. Past it,
 * new datagrams are dropped and counted in {@linkcode DatagramSocket.dropped}.
 *
 * @example
 * ```ts
 * import { DEFAULT_RECEIVE_QUEUE_BYTES } from "@nianbao/framed";
 *
 * if (DEFAULT_RECEIVE_QUEUE_BYTES !== 4 * 1024 * 1024) throw new Error("4 MiB");
 * ```
 */
export const DEFAULT_RECEIVE_QUEUE_BYTES = 4 * 1024 * 1024;

/** Options of `bindDatagram`, in every runtime. */
export interface BindDatagramOptions {
  /** Default `"127.0.0.1"`. */
  hostname?: string;
  /** Default 0: the system picks a free port. */
  port?: number;
  /**
   * The most bytes of received datagrams held until `receive()` takes them. Each datagram counts
   * its payload plus 256 bytes of bookkeeping, so a flood of empty datagrams is bounded too. When
   * the queue is full, new datagrams are dropped (the earliest are kept, as in a kernel buffer) and
   * counted in `dropped`. Default {@linkcode DEFAULT_RECEIVE_QUEUE_BYTES} (4 MiB).
   */
  receiveQueueBytes?: number;
}

/** Options of {@linkcode DatagramSocket.receive}. */
export interface ReceiveOptions {
  /**
   * Gives up waiting: the pending `receive()` rejects with the signal's reason (an `AbortError`
   * `DOMException` unless another reason was given) and the next datagram goes to the next caller.
   * `AbortSignal.timeout(ms)` makes a receive with a deadline.
   */
  signal?: AbortSignal;
}

/** One received datagram. */
export interface Datagram {
  /** The payload, whole. */
  readonly data: Uint8Array;
  /** Who sent it. */
  readonly remote: NetAddress;
}

/**
 * A bound UDP socket, the same in every runtime. Adapters provide it over Deno's `listenDatagram`,
 * Bun's `udpSocket` and Node's `dgram` module (see lib/adapters/). Datagrams are received as they
 * arrive into a queue bounded in bytes (see {@linkcode BindDatagramOptions.receiveQueueBytes}).
 */
export interface DatagramSocket {
  /** Where it is bound. */
  readonly address: NetAddress;
  /**
   * How many received datagrams were dropped because the receive queue was full. Datagrams the
   * kernel dropped before framed saw them are not counted: nothing reports those.
   */
  readonly dropped: number;
  /**
   * Sends one datagram.
   * @throws {DatagramTooLargeError} Before sending, when `data` is over 65,507 bytes.
   */
  send(data: Uint8Array, to: DatagramTarget): Promise<void>;
  /**
   * Waits for the next datagram; `null` once closed. With `signal`, an aborted wait rejects with the
   * signal's reason and takes no datagram.
   */
  receive(options?: ReceiveOptions): Promise<Datagram | null>;
  /** Closes the socket. Idempotent. */
  close(): void;
}
