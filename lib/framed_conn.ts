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
   * Bytes queued for sending above this many make `write()` return `false` (and, with
   * `pauseReadsWhileWriteBlocked`, pause reading). Default 1 MiB.
   */
  writeHighWaterMark?: number;
  /**
   * Stop reading while more than `writeHighWaterMark` bytes wait to be sent, so that a handler
   * that answers every frame without awaiting `flush()` cannot be made to queue without bound by
   * a peer that sends but does not read. Default `true`, and `true` for `listen()` and `serve()`;
   * `connect()` defaults to `false`: a client that pipelines requests must keep reading replies
   * while its own writes wait, or each side would wait for the other to read.
   */
  pauseReadsWhileWriteBlocked?: boolean;
  /** Close the connection when no byte arrives for this many milliseconds. Default 0 (never). */
  idleTimeout?: number;
  /**
   * How long `close()` keeps reading (and discarding) after it has sent FIN, waiting for the peer
   * to end its side, in milliseconds. Releasing a socket while the peer still sends makes the
   * kernel reset the connection and drop bytes not yet delivered; waiting for the peer's end of
   * stream avoids that. Default 2,000 ms.
   */
  lingerTimeout?: number;
}

const DEFAULT_HIGH_WATER_MARK = 1024 * 1024;
const DEFAULT_LINGER_TIMEOUT = 2_000;

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
 * **Closing.** `close()` is graceful: it sends everything written so far, then FIN, waits briefly
 * for the peer to end its side, and releases the socket; it rejects if the frames could not be
 * sent. `abort()` releases the socket at once and drops unsent frames. `await using conn = ...`
 * calls `close()` at the end of the scope.
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
 * await conn.close();
 * ```
 */
export class FramedConn<T> implements AsyncIterable<T>, AsyncDisposable {
  /** The codec frames are encoded and decoded with. */
  readonly codec: Codec<T>;
  /** The underlying byte stream. Writing to it directly bypasses framing; don't. */
  readonly stream: ByteStream;

  // Created when reading starts, once we know whether frames may be borrowed.
  #decoder: Decoder<T> | null = null;
  #borrow = false;
  readonly #readHighWaterMark: number;
  readonly #writeHighWaterMark: number;
  readonly #lingerTimeout: number;
  readonly #pauseReadsWhileWriteBlocked: boolean;

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

  // Closing: #closed once close() or abort() was called (no more writes); #closing is close()'s
  // promise; #released once the socket itself is closed. In between, close() is still sending,
  // and received bytes are discarded (#discarding) until the peer's end of stream (#peerEnded).
  #closed = false;
  #closing: Promise<void> | null = null;
  #released = false;
  #discarding = false;
  #peerEnded = false;
  #onPeerEnd: (() => void) | null = null;

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
    this.#lingerTimeout = options.lingerTimeout ?? DEFAULT_LINGER_TIMEOUT;
    this.#pauseReadsWhileWriteBlocked = options.pauseReadsWhileWriteBlocked ?? true;
    const idle = options.idleTimeout ?? 0;
    if (idle > 0) {
      this.#lastActivity = Date.now();
      this.#idleTimer = setInterval(() => {
        if (Date.now() - this.#lastActivity >= idle) {
          this.#failRead(new IdleTimeoutError(idle));
          this.abort();
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
    if (this.#waiters.length > 0) {
      // The waiting readFrame() would never be answered: every frame would go to the handler.
      throw new TypeError(
        "onFrame() was called while readFrame() or a for await loop waits for a frame; use one",
      );
    }
    this.#handler = handler;
    if (!this.#started) this.#borrow = options.borrow ?? false;
    const done = new Promise<void>((resolve, reject) => {
      this.#handlerDone = { resolve, reject };
    });
    try {
      while (this.#head < this.#frames.length) handler(this.#dequeue()!);
    } catch (error) {
      this.#failRead(error);
      this.#closeAfterFailure();
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
      error: (error) => {
        this.#peerEnd();
        this.#failRead(new ConnectionClosedError("the connection failed", { cause: error }));
      },
    });
    this.#applyPause();
  }

  #onData(chunk: Uint8Array): boolean {
    if (this.#readDone !== null || this.#discarding) return false;
    if (this.#idleTimer !== undefined) this.#lastActivity = Date.now();
    try {
      // Borrowed frames never outlive the handler, so the adapter may always reuse its buffer.
      return this.#decoder!.push(chunk, this.#emit) && !this.#borrow;
    } catch (error) {
      this.#failRead(error);
      this.#closeAfterFailure();
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
    this.#peerEnd();
    if (this.#readDone !== null) return;
    try {
      this.#decoder!.finish();
    } catch (error) {
      this.#failRead(error);
      this.#closeAfterFailure();
      return;
    }
    this.#endRead({});
  }

  // The peer will send nothing more (FIN, reset or failure): a lingering close() may release.
  #peerEnd(): void {
    this.#peerEnded = true;
    const wake = this.#onPeerEnd;
    this.#onPeerEnd = null;
    wake?.();
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
    if (!this.#started || this.#released) return;
    const pause = !this.#discarding && (this.#pausedForRead || this.#pausedForWrite);
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
   * @throws {ConnectionClosedError} After `close()`, `abort()` or a failed write.
   */
  write(frame: T): boolean {
    if (this.#writeError !== null) throw this.#writeError;
    if (this.#closed) throw new ConnectionClosedError("the connection is closed for writing");
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
    if (this.#pauseReadsWhileWriteBlocked && !this.#pausedForWrite) {
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
      this.#writeError ??= this.#released ? new ConnectionClosedError() : error;
      for (const waiter of this.#flushWaiters.splice(0)) waiter.reject(this.#writeError);
      this.abort();
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
   * Closes gracefully, like Node's `socket.end()` or Python's `sendall` then `close`: everything
   * written so far is sent, then FIN; received frames are no longer delivered (pending reads
   * resolve to `null`); then, once the peer has ended its side (or after `lingerTimeout`), the
   * socket is released. Idempotent: every call returns the same promise.
   *
   * You need not await it: a close nobody awaits never causes an unhandled rejection. Await it to
   * know that the frames were sent.
   *
   * @returns A promise that resolves once everything written was handed to the operating system
   * and the socket is released.
   * @throws {PartialWriteError} When the frames could not all be sent (the peer reset, or
   * `abort()` was called first); the socket is released all the same.
   */
  close(): Promise<void> {
    if (this.#closing === null) {
      this.#closing = this.#closeGracefully();
      // Failures also reach flush() and write() callers; a close nobody awaits must not crash.
      this.#closing.catch(() => {});
    }
    return this.#closing;
  }

  async #closeGracefully(): Promise<void> {
    this.#closed = true;
    this.#endRead({});
    // Keep reading and drop what arrives: a socket released with unread bytes is reset by the
    // kernel, and a reset throws away what we sent that the peer has not read yet.
    this.#discarding = true;
    if (!this.#released) {
      if (this.#started) this.#applyPause();
      else this.#start();
    }
    try {
      await this.flush();
      if (!this.#released) {
        try {
          await this.stream.closeWrite();
        } catch (cause) {
          throw new ConnectionClosedError("the connection failed while sending its end", { cause });
        }
      }
      await this.#lingerUntilPeerEnds();
    } finally {
      this.#release(undefined);
    }
  }

  #lingerUntilPeerEnds(): Promise<void> {
    if (this.#peerEnded || this.#released || this.#lingerTimeout <= 0) return Promise.resolve();
    return new Promise((resolve) => {
      const timer = setTimeout(() => {
        this.#onPeerEnd = null;
        resolve();
      }, this.#lingerTimeout);
      this.#onPeerEnd = () => {
        clearTimeout(timer);
        resolve();
      };
    });
  }

  /**
   * Closes at once: the socket is released, unsent frames are dropped (pending `flush()`,
   * `writeFrame()` and `close()` calls reject with {@linkcode ConnectionClosedError}), and
   * pending reads resolve to `null`. Idempotent.
   *
   * @param reason Why, kept as the `cause` of the errors unsent frames are rejected with.
   */
  abort(reason?: unknown): void {
    this.#closed = true;
    this.#release(reason);
  }

  // A decode error or a throwing handler: reading is over, but replies already written still go.
  #closeAfterFailure(): void {
    void this.close();
  }

  #release(reason: unknown): void {
    if (this.#released) return;
    this.#released = true;
    this.#stopIdleTimer();
    this.stream.close();
    this.#endRead({});
    this.#peerEnd();
    if (this.#written < this.#enqueued) {
      this.#writeError ??= new ConnectionClosedError(
        "the connection was closed before the frames were sent",
        reason === undefined ? undefined : { cause: reason },
      );
      for (const waiter of this.#flushWaiters.splice(0)) waiter.reject(this.#writeError);
    }
  }

  /** Closes gracefully at the end of an `await using` scope; see {@linkcode FramedConn.close}. */
  [Symbol.asyncDispose](): Promise<void> {
    return this.close();
  }

  /** `true` after `close()`, `abort()` or a fatal error: `write()` throws from then on. */
  get closed(): boolean {
    return this.#closed;
  }

  #stopIdleTimer(): void {
    if (this.#idleTimer !== undefined) clearInterval(this.#idleTimer);
    this.#idleTimer = undefined;
  }
}
