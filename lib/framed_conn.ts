/**
 * A framed connection: any {@linkcode ByteStream} plus a {@linkcode Codec}, with corked writes,
 * three ways to receive, and backpressure in both directions.
 *
 * @module
 */

import { ByteQueue } from "./_byte_queue.ts";
import type { ByteStream, NetAddress } from "./byte_stream.ts";
import type { Codec, Decoder } from "./codec.ts";
import { ConnectionClosedError, IdleTimeoutError } from "./errors.ts";
import { sendAll } from "./send.ts";

/** Options of {@linkcode FramedConn}. */
export interface FramedConnOptions {
  /**
   * Received frames waiting for `readFrame`/`for await` above this many bytes pause reading from
   * the socket, so a slow consumer keeps memory bounded. Default 1 MiB.
   */
  readHighWaterMark?: number;
  /**
   * Bytes queued for sending above this many make `write()` return `false` and pause reading, so
   * a peer that sends but does not read cannot grow our memory. Default 1 MiB.
   */
  writeHighWaterMark?: number;
  /** Close the connection when no byte arrives for this many milliseconds. Default 0 (never). */
  idleTimeout?: number;
}

const DEFAULT_HIGH_WATER_MARK = 1024 * 1024;

// What a queued frame costs for backpressure: its bytes when it has any, a flat guess otherwise.
function sizeOf(frame: unknown): number {
  if (frame instanceof Uint8Array) return frame.byteLength + 64;
  const body = (frame as { body?: unknown } | null)?.body;
  return body instanceof Uint8Array ? body.byteLength + 256 : 256;
}

interface Waiter<T> {
  resolve(frame: T | null): void;
  reject(error: unknown): void;
}

/**
 * A connection that sends and receives whole frames.
 *
 * **Sending.** `write(frame)` encodes into a cork buffer synchronously and returns; everything
 * written in the same tick leaves in one socket write. `flush()` resolves once all of it is handed
 * to the operating system; `writeFrame(frame)` is `write` plus `flush`. A frame passed to `write`
 * must not be changed until the next `flush` resolves (large bodies are sent without a copy).
 *
 * **Receiving**, pick one per connection:
 * - `for await (const frame of conn)` or `readFrame()`: simplest; one promise per frame.
 * - `onFrame(handler)`: a synchronous callback per frame, the fast path for small frames (millions
 *   per second); no promise per frame.
 *
 * Received frames are yours to keep: they are never overwritten (a frame is either a view of a
 * chunk that is not reused, or a copy), unless you ask `onFrame` to lend them (`borrow: true`).
 *
 * A decode error (oversize, garbage, end of stream mid-frame) is thrown from `readFrame` or rejects
 * `onFrame`'s promise, and closes this connection only.
 *
 * @example A framed echo over any adapter's stream
 * ```ts ignore
 * import { connect, lengthPrefix } from "@nianbao/framed";
 *
 * const conn = await connect({ port: 8000, codec: lengthPrefix() });
 * await conn.writeFrame(new TextEncoder().encode("hello"));
 * const reply = await conn.readFrame();
 * conn.close();
 * ```
 */
export class FramedConn<T> implements AsyncIterable<T> {
  /** The codec frames are encoded and decoded with. */
  readonly codec: Codec<T>;
  /** The underlying byte stream. Writing to it directly bypasses framing; don't. */
  readonly stream: ByteStream;

  // Created when reading starts, once we know whether frames may be borrowed.
  #decoder: Decoder<T> | null = null;
  #borrow = false;
  readonly #readHighWaterMark: number;
  readonly #writeHighWaterMark: number;

  // Receiving.
  #started = false;
  #frames: (T | undefined)[] = [];
  #head = 0;
  #queuedBytes = 0;
  #waiters: Waiter<T>[] = [];
  #handler: ((frame: T) => void) | null = null;
  #handlerDone: { resolve(): void; reject(error: unknown): void } | null = null;
  #readDone: { error?: unknown } | null = null;
  #pausedForRead = false;
  #pausedForWrite = false;
  #paused = false;
  #lastActivity = 0;
  #idleTimer: ReturnType<typeof setInterval> | undefined;

  // Sending.
  readonly #out = new ByteQueue();
  #pumping = false;
  #pumpScheduled = false;
  #enqueued = 0;
  #written = 0;
  #flushWaiters: { target: number; resolve(): void; reject(error: unknown): void }[] = [];
  #writeError: unknown = null;
  #closed = false;

  /**
   * Wraps a connected byte stream.
   *
   * @param stream A connected byte stream from any adapter.
   * @param codec The framing to use.
   * @param options Backpressure limits and idle timeout.
   */
  constructor(stream: ByteStream, codec: Codec<T>, options: FramedConnOptions = {}) {
    this.stream = stream;
    this.codec = codec;
    this.#readHighWaterMark = options.readHighWaterMark ?? DEFAULT_HIGH_WATER_MARK;
    this.#writeHighWaterMark = options.writeHighWaterMark ?? DEFAULT_HIGH_WATER_MARK;
    const idle = options.idleTimeout ?? 0;
    if (idle > 0) {
      this.#lastActivity = Date.now();
      this.#idleTimer = setInterval(() => {
        if (Date.now() - this.#lastActivity >= idle) {
          this.#failRead(new IdleTimeoutError(idle));
          this.close();
        }
      }, Math.max(10, Math.floor(idle / 4)));
    }
  }

  /** The local end of the connection. */
  get localAddress(): NetAddress {
    return this.stream.localAddress;
  }

  /** The peer's end of the connection. */
  get remoteAddress(): NetAddress {
    return this.stream.remoteAddress;
  }

  // ── Receiving ──────────────────────────────────────────────────────────────────────────────

  /**
   * Reads the next frame.
   * @returns The frame, or `null` after a clean end of stream or a local `close()`.
   * @throws {FramedError} On a decode error, an end of stream mid-frame, or a connection failure.
   */
  readFrame(): Promise<T | null> {
    if (this.#handler !== null) {
      return Promise.reject(new TypeError("this connection delivers frames to onFrame()"));
    }
    if (this.#head < this.#frames.length) return Promise.resolve(this.#dequeue());
    if (this.#readDone !== null) {
      return "error" in this.#readDone
        ? Promise.reject(this.#readDone.error)
        : Promise.resolve(null);
    }
    if (this.#closed) return Promise.resolve(null);
    this.#start();
    return new Promise((resolve, reject) => this.#waiters.push({ resolve, reject }));
  }

  /** Iterates over frames until a clean end of stream; throws what `readFrame` throws. */
  async *[Symbol.asyncIterator](): AsyncIterator<T> {
    for (let frame = await this.readFrame(); frame !== null; frame = await this.readFrame()) {
      yield frame;
    }
  }

  /**
   * Delivers every frame to a synchronous `handler`, with no promise per frame: the fast receive
   * path. Frames already queued by `readFrame` are delivered first.
   *
   * With `{ borrow: true }` a frame is only valid until `handler` returns: its bytes may be reused
   * for the next read. That makes receiving allocation-free (flat memory at any rate); call
   * `frame.slice()` to keep one. Without it, frames are yours to keep, as everywhere else.
   *
   * @param handler Called once per frame, in order. If it throws, the connection closes and the
   * returned promise rejects with that error.
   * @param options `borrow`: lend frames instead of giving them. Default `false`.
   * @returns A promise that resolves at a clean end of stream (or local `close()`), and rejects on
   * a decode or connection error.
   */
  onFrame(handler: (frame: T) => void, options: { borrow?: boolean } = {}): Promise<void> {
    if (this.#handler !== null) throw new TypeError("onFrame() was already called");
    this.#handler = handler;
    if (!this.#started) this.#borrow = options.borrow ?? false;
    const done = new Promise<void>((resolve, reject) => {
      this.#handlerDone = { resolve, reject };
    });
    try {
      while (this.#head < this.#frames.length) handler(this.#dequeue()!);
    } catch (error) {
      this.#failRead(error);
      this.close();
    }
    if (this.#readDone !== null || this.#closed) this.#settleHandler();
    else this.#start();
    return done;
  }

  #start(): void {
    if (this.#started) return;
    this.#started = true;
    this.#decoder = this.codec.createDecoder({ reuseFrameBuffer: this.#borrow });
    this.stream.start({
      data: (chunk) => this.#onData(chunk),
      end: () => this.#onEnd(),
      error: (error) =>
        this.#failRead(new ConnectionClosedError("the connection failed", { cause: error })),
    });
    this.#applyPause();
  }

  #onData(chunk: Uint8Array): boolean {
    if (this.#readDone !== null) return false;
    if (this.#idleTimer !== undefined) this.#lastActivity = Date.now();
    try {
      // Borrowed frames never outlive the handler, so the adapter may always reuse its buffer.
      return this.#decoder!.push(chunk, this.#emit) && !this.#borrow;
    } catch (error) {
      this.#failRead(error);
      this.close();
      return false;
    }
  }

  readonly #emit = (frame: T): void => {
    if (this.#handler !== null) {
      this.#handler(frame);
    } else if (this.#waiters.length > 0) {
      this.#waiters.shift()!.resolve(frame);
    } else {
      this.#frames.push(frame);
      this.#queuedBytes += sizeOf(frame);
      if (this.#queuedBytes > this.#readHighWaterMark && !this.#pausedForRead) {
        this.#pausedForRead = true;
        this.#applyPause();
      }
    }
  };

  #dequeue(): T {
    const frame = this.#frames[this.#head]!;
    this.#frames[this.#head++] = undefined;
    if (this.#head === this.#frames.length) {
      this.#frames = [];
      this.#head = 0;
    }
    this.#queuedBytes -= sizeOf(frame);
    if (this.#pausedForRead && this.#queuedBytes <= this.#readHighWaterMark / 2) {
      this.#pausedForRead = false;
      this.#applyPause();
    }
    return frame;
  }

  /**
   * Stops reading from the peer, for a graceful shutdown: frames already received are still
   * delivered, then reading ends as at a clean end of stream. Writing goes on.
   */
  stopReading(): void {
    if (this.#readDone !== null) return;
    this.#pausedForRead = true;
    this.#applyPause();
    this.#endRead({});
  }

  #onEnd(): void {
    if (this.#readDone !== null) return;
    try {
      this.#decoder!.finish();
    } catch (error) {
      this.#failRead(error);
      this.close();
      return;
    }
    this.#endRead({});
  }

  #failRead(error: unknown): void {
    this.#endRead({ error });
  }

  // Reading is over, cleanly ({}) or not ({ error }): wake every reader once, and only once.
  #endRead(done: { error?: unknown }): void {
    if (this.#readDone !== null) return;
    this.#readDone = done;
    this.#stopIdleTimer();
    for (const waiter of this.#waiters.splice(0)) {
      if ("error" in done) waiter.reject(done.error);
      else waiter.resolve(null);
    }
    this.#settleHandler();
  }

  #settleHandler(): void {
    const done = this.#handlerDone;
    if (done === null) return;
    this.#handlerDone = null;
    const readDone = this.#readDone;
    if (readDone !== null && "error" in readDone) done.reject(readDone.error);
    else done.resolve();
  }

  #applyPause(): void {
    if (!this.#started || this.#closed) return;
    const pause = this.#pausedForRead || this.#pausedForWrite;
    if (pause === this.#paused) return;
    this.#paused = pause;
    if (pause) this.stream.pause();
    else this.stream.resume();
  }

  // ── Sending ────────────────────────────────────────────────────────────────────────────────

  /**
   * Encodes `frame` into the cork buffer; it is sent with everything else written in this tick.
   * @param frame The frame. Do not change it until the next `flush()` resolves.
   * @returns `false` when more than `writeHighWaterMark` bytes are waiting: await `flush()`.
   * @throws {FrameTooLargeError} When the frame is over the codec's limit (nothing is queued).
   * @throws {ConnectionClosedError} After `close()` or a failed write.
   */
  write(frame: T): boolean {
    if (this.#writeError !== null) throw this.#writeError;
    if (this.#closed) throw new ConnectionClosedError();
    const out = this.#out;
    const before = out.byteLength;
    this.codec.encodeTo(frame, out);
    this.#enqueued += out.byteLength - before;
    if (!this.#pumpScheduled && !this.#pumping) {
      this.#pumpScheduled = true;
      queueMicrotask(() => void this.#pump());
    }
    // Bytes already handed to the pump but not yet written are waiting too.
    if (this.#enqueued - this.#written <= this.#writeHighWaterMark) return true;
    if (!this.#pausedForWrite) {
      this.#pausedForWrite = true;
      this.#applyPause();
    }
    return false;
  }

  /**
   * Sends everything written so far.
   * @returns A promise that resolves once those bytes are handed to the operating system.
   * @throws {PartialWriteError} When the connection failed while sending.
   */
  flush(): Promise<void> {
    if (this.#writeError !== null) return Promise.reject(this.#writeError);
    if (this.#written >= this.#enqueued) return Promise.resolve();
    const target = this.#enqueued;
    const done = new Promise<void>((resolve, reject) =>
      this.#flushWaiters.push({ target, resolve, reject })
    );
    if (!this.#pumping) void this.#pump();
    return done;
  }

  /**
   * Writes one frame and flushes it.
   * @param frame The frame to send.
   */
  writeFrame(frame: T): Promise<void> {
    try {
      this.write(frame);
    } catch (error) {
      return Promise.reject(error);
    }
    return this.flush();
  }

  async #pump(): Promise<void> {
    this.#pumpScheduled = false;
    if (this.#pumping) return;
    this.#pumping = true;
    try {
      while (this.#out.byteLength > 0) {
        for (const segment of this.#out.take()) {
          await sendAll(this.stream, segment);
          this.#out.recycle(segment);
          this.#written += segment.length;
          this.#settleFlushes();
        }
        if (
          this.#pausedForWrite && this.#enqueued - this.#written <= this.#writeHighWaterMark / 2
        ) {
          this.#pausedForWrite = false;
          this.#applyPause();
        }
      }
    } catch (error) {
      this.#writeError = this.#closed ? new ConnectionClosedError() : error;
      for (const waiter of this.#flushWaiters.splice(0)) waiter.reject(this.#writeError);
      this.close();
    } finally {
      this.#pumping = false;
    }
  }

  #settleFlushes(): void {
    const waiters = this.#flushWaiters;
    while (waiters.length > 0 && waiters[0]!.target <= this.#written) waiters.shift()!.resolve();
  }

  /** Flushes, then sends FIN: the peer sees a clean end of stream, and reading goes on. */
  async closeWrite(): Promise<void> {
    await this.flush();
    await this.stream.closeWrite();
  }

  /**
   * Closes the connection now. Pending reads resolve to `null`; unsent frames are dropped (call
   * `flush()` or `closeWrite()` first to send them). Idempotent.
   */
  close(): void {
    if (this.#closed) return;
    this.#closed = true;
    this.stream.close();
    this.#endRead({});
    if (this.#written < this.#enqueued) {
      this.#writeError ??= new ConnectionClosedError(
        "the connection was closed before the frames were sent",
      );
      for (const waiter of this.#flushWaiters.splice(0)) waiter.reject(this.#writeError);
    }
  }

  /** `true` after `close()` or a fatal error. */
  get closed(): boolean {
    return this.#closed;
  }

  #stopIdleTimer(): void {
    if (this.#idleTimer !== undefined) clearInterval(this.#idleTimer);
    this.#idleTimer = undefined;
  }
}
