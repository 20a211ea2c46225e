/**
 * Two connected in-memory {@linkcode ByteStream}s: what one writes, the other receives. For unit
 * tests of anything built on a `ByteStream` (a `FramedConn`, a protocol handler) that must be
 * deterministic: partial writes, a reader that pauses, a small "kernel buffer" that fills, reads
 * cut at chosen sizes, half-close and reset, with no socket and no timing.
 *
 * @module
 */

import type { ByteStream, ByteStreamHandlers, NetAddress } from "./byte_stream.ts";
import { ConnectionClosedError } from "./errors.ts";
import { netAddress } from "./net_address.ts";

/** Options of {@linkcode memoryStreamPair}. */
export interface MemoryStreamOptions {
  /** The most one `write` accepts, like a socket that takes part of a large buffer. Default: all. */
  maxWrite?: number;
  /** The most one `data` call delivers: reads are cut to this size. Default: one call per write. */
  maxRead?: number;
  /**
   * Bytes a receiver holds before it is read (paused, or not started), like a kernel's socket
   * buffers; a writer waits for room past it. Default 256 KiB.
   */
  capacity?: number;
}

/**
 * Creates two connected in-memory streams.
 *
 * @param options Partial writes, read sizes and buffer capacity.
 * @returns The two ends: `a` writes to `b`, `b` writes to `a`.
 *
 * @example A framed round trip with no socket, one byte per read
 * ```ts
 * import { FramedConn, lengthPrefix, memoryStreamPair } from "@nianbao/framed";
 *
 * const [a, b] = memoryStreamPair({ maxRead: 1 });
 * const client = new FramedConn(a, lengthPrefix());
 * const server = new FramedConn(b, lengthPrefix());
 * await client.writeFrame(new TextEncoder().encode("hello"));
 * const frame = await server.readFrame();
 * if (new TextDecoder().decode(frame!) !== "hello") throw new Error("lost the frame");
 * await Promise.all([client.close(), server.close()]);
 * ```
 */
export function memoryStreamPair(options: MemoryStreamOptions = {}): [ByteStream, ByteStream] {
  const a = new MemoryStream(netAddress("memory", 1), netAddress("memory", 2), options);
  const b = new MemoryStream(netAddress("memory", 2), netAddress("memory", 1), options);
  a.peer = b;
  b.peer = a;
  return [a, b];
}

type Incoming = Uint8Array | "end" | { error: unknown };

class MemoryStream implements ByteStream {
  readonly localAddress: NetAddress;
  readonly remoteAddress: NetAddress;
  peer!: MemoryStream;
  readonly #maxWrite: number;
  readonly #maxRead: number;
  readonly #capacity: number;
  // What the peer sent that this end has not delivered yet, and its size in bytes.
  readonly #incoming: Incoming[] = [];
  #incomingBytes = 0;
  #handlers: ByteStreamHandlers | null = null;
  #paused = false;
  #delivering = false;
  #writeEnded = false;
  #closed = false;
  // Writers of the peer waiting for room in this end's buffer.
  #roomWaiters: (() => void)[] = [];

  constructor(local: NetAddress, remote: NetAddress, options: MemoryStreamOptions) {
    this.localAddress = local;
    this.remoteAddress = remote;
    this.#maxWrite = options.maxWrite ?? Infinity;
    this.#maxRead = options.maxRead ?? Infinity;
    this.#capacity = options.capacity ?? 256 * 1024;
  }

  start(handlers: ByteStreamHandlers): void {
    this.#handlers = handlers;
    this.#scheduleDelivery();
  }

  pause(): void {
    this.#paused = true;
  }

  resume(): void {
    this.#paused = false;
    this.#scheduleDelivery();
  }

  async write(bytes: Uint8Array): Promise<number> {
    for (;;) {
      if (this.#closed || this.#writeEnded) throw new ConnectionClosedError();
      const peer = this.peer;
      if (peer.#closed) {
        throw new ConnectionClosedError("the peer closed the connection", { cause: "reset" });
      }
      const room = peer.#capacity - peer.#incomingBytes;
      if (room > 0 || bytes.length === 0) {
        const accepted = Math.min(bytes.length, this.#maxWrite, Math.max(room, 0));
        // A copy: like a kernel, the stream is done with the caller's buffer when write resolves.
        peer.#receive(bytes.slice(0, accepted));
        return accepted;
      }
      await new Promise<void>((resolve) => peer.#roomWaiters.push(resolve));
    }
  }

  closeWrite(): Promise<void> {
    if (!this.#closed && !this.#writeEnded) {
      this.#writeEnded = true;
      this.peer.#receive("end");
    }
    return Promise.resolve();
  }

  close(): void {
    if (this.#closed) return;
    this.#closed = true;
    this.#wakeWriters();
    // Closing with bytes unread resets the connection, as a kernel does; else the peer sees FIN.
    const peer = this.peer;
    if (this.#incomingBytes > 0) peer.#receive({ error: new Error("connection reset by peer") });
    else if (!this.#writeEnded) peer.#receive("end");
    this.#writeEnded = true;
    this.#incoming.length = 0;
    this.#incomingBytes = 0;
    peer.#wakeWriters();
  }

  #receive(item: Incoming): void {
    if (this.#closed) return;
    if (item instanceof Uint8Array) {
      if (item.length === 0) return;
      this.#incomingBytes += item.length;
    }
    this.#incoming.push(item);
    this.#scheduleDelivery();
  }

  // Delivers on a later task, never inside the writer's call, as a socket does.
  #scheduleDelivery(): void {
    if (this.#delivering || this.#handlers === null) return;
    this.#delivering = true;
    setTimeout(() => {
      this.#delivering = false;
      this.#deliver();
    }, 0);
  }

  #deliver(): void {
    const handlers = this.#handlers!;
    while (!this.#paused && !this.#closed && this.#incoming.length > 0) {
      const item = this.#incoming[0]!;
      if (item === "end") {
        this.#incoming.shift();
        handlers.end();
      } else if (item instanceof Uint8Array) {
        const chunk = item.length > this.#maxRead ? item.subarray(0, this.#maxRead) : item;
        if (chunk === item) this.#incoming.shift();
        else this.#incoming[0] = item.subarray(chunk.length);
        this.#incomingBytes -= chunk.length;
        handlers.data(chunk);
      } else {
        this.#incoming.length = 0;
        this.#incomingBytes = 0;
        this.#closed = true;
        handlers.error(item.error);
      }
    }
    this.#wakeWriters();
  }

  #wakeWriters(): void {
    for (const wake of this.#roomWaiters.splice(0)) wake();
  }
}
