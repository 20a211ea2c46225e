/**
 * The sending half of a connection: a cork buffer that frames are encoded into, one pump that
 * writes it to the stream one write at a time, flush waiters, and write backpressure.
 *
 * @module
 */

import { ByteQueue } from "./_byte_queue.ts";
import { writeAll } from "./_write_all.ts";
import type { Writer } from "./send.ts";
import type { EncodeSink } from "./codec.ts";
import { ConnectionClosedError, PartialWriteError } from "./errors.ts";

/** Options of {@linkcode FrameWriter}. */
export interface FrameWriterOptions {
  /** Bytes waiting to be sent above which `write()` returns `false`. Default 1 MiB. */
  writeHighWaterMark?: number;
  /**
   * Called with `true` when more than `writeHighWaterMark` bytes wait, and with `false` once they
   * have drained to half of it: a connection uses it to stop reading from a peer that does not
   * read its replies.
   */
  onBlockedChange?: (blocked: boolean) => void;
  /** Called once when a write to the stream fails; the writer has already failed every waiter. */
  onWriteError?: (error: unknown) => void;
}

const DEFAULT_HIGH_WATER_MARK = 1024 * 1024;

/** What a {@linkcode FrameWriter} encodes frames with: every codec is one. */
export interface FrameEncoder<T> {
  /** Appends the encoding of `frame` to `sink`. */
  encodeTo(frame: T, sink: EncodeSink): void;
  /** Optional: appends a frame whose body `fill` writes in place (`Codec.encodeWith`). */
  encodeWith?(length: number, fill: (body: Uint8Array) => void, sink: EncodeSink): void;
}

/**
 * Encodes frames into a cork buffer and sends it: everything written in the same tick leaves in
 * one write to the stream. Writes never overlap, so a stream whose writes may be partial or
 * interleave (Deno, Bun) is written in order; the pump is the only writer.
 *
 * The state, in one line each:
 * - `enqueued` bytes were encoded, `written` of them are handed to the stream; the rest wait.
 * - `closed`: `write()` refuses new frames; what is queued is still sent.
 * - `error`: a write failed or the writer was failed; every later call reports it.
 *
 * @example Frames written in one tick leave in one write
 * ```ts
 * import { FrameWriter, lengthPrefix } from "@nianbao/framed";
 *
 * const writes: Uint8Array[] = [];
 * const stream = { write: (bytes: Uint8Array) => (writes.push(bytes.slice()), Promise.resolve(bytes.length)) };
 * const codec = lengthPrefix({ lengthFormat: "u8" });
 * const writer = new FrameWriter(stream, codec);
 * writer.write(new Uint8Array([1]));
 * writer.write(new Uint8Array([2, 3]));
 * await writer.flush();
 * if (writes.length !== 1 || String(writes[0]) !== "1,1,2,2,3") throw new Error(String(writes));
 * ```
 */
export class FrameWriter<T> {
  readonly #stream: Writer;
  readonly #encoder: FrameEncoder<T>;
  readonly #highWaterMark: number;
  readonly #onBlockedChange: ((blocked: boolean) => void) | undefined;
  readonly #onWriteError: ((error: unknown) => void) | undefined;
  readonly #out = new ByteQueue();
  #pumping = false;
  #pumpScheduled = false;
  #enqueued = 0;
  #written = 0;
  #flushWaiters: { target: number; resolve(): void; reject(error: unknown): void }[] = [];
  #blocked = false;
  #closed = false;
  // Why write() refuses, when the owner said (a read failure); else "closed for writing".
  #closeReason: unknown = null;
  #error: unknown = null;

  /**
   * Creates a writer.
   *
   * @param stream Where bytes go; its `write` may be partial.
   * @param encoder Encodes one frame into the cork buffer: any codec.
   * @param options The high-water mark and the callbacks of the owning connection.
   */
  constructor(
    stream: Writer,
    encoder: FrameEncoder<T>,
    options: FrameWriterOptions = {},
  ) {
    this.#stream = stream;
    this.#encoder = encoder;
    this.#highWaterMark = options.writeHighWaterMark ?? DEFAULT_HIGH_WATER_MARK;
    this.#onBlockedChange = options.onBlockedChange;
    this.#onWriteError = options.onWriteError;
    // A stream with writev is handed large bodies as they are: nothing is copied.
    this.#out.vectored = typeof stream.writev === "function";
  }

  /**
   * Whether memory of the caller's (a frame's body sent by reference) is queued or being
   * written: it must not change until `flush()` resolves.
   */
  get borrowing(): boolean {
    return this.#out.borrowing;
  }

  /** Bytes encoded but not yet handed to the stream. */
  get unsent(): number {
    return this.#enqueued - this.#written;
  }

  /** The failure every later call reports, or `null`. */
  get error(): unknown {
    return this.#error;
  }

  /**
   * Encodes `frame` into the cork buffer; it is sent with everything else written in this tick.
   * @param frame The frame. Do not change it until the next `flush()` resolves.
   * @returns `false` when more than the high-water mark waits: await `flush()`.
   * @throws {FrameTooLargeError} When the frame is over the codec's limit (nothing is queued).
   * @throws {ConnectionClosedError} After `close()` or a failure.
   */
  write(frame: T): boolean {
    this.#checkOpen();
    const out = this.#out;
    const before = out.byteLength;
    this.#encoder.encodeTo(frame, out);
    return this.#queued(out.byteLength - before);
  }

  /**
   * Appends a frame whose `length`-byte body `fill` writes straight into the outgoing buffer,
   * after the codec's header: no copy of the body, in any runtime. `fill` runs before this
   * returns; it must write all `length` bytes (the view's content is unspecified before).
   * @param length The body's length in bytes.
   * @param fill Writes the body into the view it is given; it must not keep the view.
   * @returns `false` when more than the high-water mark waits: await `flush()`.
   * @throws {TypeError} When the codec cannot frame a body in place (it has no `encodeWith`).
   * @throws {FrameTooLargeError} When `length` is over the codec's limit (`fill` is not called).
   * @throws What `fill` throws; nothing is queued then.
   */
  writeWith(length: number, fill: (body: Uint8Array) => void): boolean {
    this.#checkOpen();
    const encodeWith = this.#encoder.encodeWith;
    if (typeof encodeWith !== "function") {
      throw new TypeError("this codec cannot write a frame in place (it has no encodeWith)");
    }
    if (!(Number.isSafeInteger(length) && length >= 0)) {
      throw new RangeError(`length must be a non-negative integer, got ${length}`);
    }
    const out = this.#out;
    const before = out.byteLength;
    encodeWith.call(this.#encoder, length, fill, out);
    return this.#queued(out.byteLength - before);
  }

  #checkOpen(): void {
    if (this.#error !== null) throw this.#error;
    if (this.#closed) {
      throw this.#closeReason ?? new ConnectionClosedError("the connection is closed for writing");
    }
  }

  // `added` bytes were encoded: schedule the pump and report backpressure.
  #queued(added: number): boolean {
    this.#enqueued += added;
    if (!this.#pumpScheduled && !this.#pumping) {
      this.#pumpScheduled = true;
      queueMicrotask(() => void this.#pump());
    }
    // Bytes already handed to the pump but not yet written are waiting too.
    if (this.unsent <= this.#highWaterMark) return true;
    if (!this.#blocked) {
      this.#blocked = true;
      this.#onBlockedChange?.(true);
    }
    return false;
  }

  /**
   * Sends everything written so far.
   * @returns A promise that resolves once those bytes are handed to the stream.
   * @throws {PartialWriteError} When the stream failed while sending.
   */
  flush(): Promise<void> {
    if (this.#error !== null) return Promise.reject(this.#error);
    if (this.#written >= this.#enqueued) return Promise.resolve();
    const target = this.#enqueued;
    const done = new Promise<void>((resolve, reject) =>
      this.#flushWaiters.push({ target, resolve, reject })
    );
    if (!this.#pumping) void this.#pump();
    return done;
  }

  /**
   * Refuses every later `write()`; what is queued is still sent by `flush()`.
   *
   * @param reason What later `write()` calls throw (the first reason given stays); default a
   * {@linkcode ConnectionClosedError}.
   */
  close(reason?: unknown): void {
    this.#closed = true;
    if (reason !== undefined) this.#closeReason ??= reason;
  }

  /**
   * Fails the writer: later calls throw `error`, and if bytes are still unsent, pending and later
   * `flush()` calls reject with it. Nothing more is written. Idempotent: the first error stays.
   *
   * @param error Why; a {@linkcode ConnectionClosedError} when the connection was closed.
   */
  fail(error: unknown): void {
    this.#closed = true;
    if (this.#written >= this.#enqueued) return;
    this.#error ??= error;
    for (const waiter of this.#flushWaiters.splice(0)) waiter.reject(this.#error);
  }

  async #pump(): Promise<void> {
    this.#pumpScheduled = false;
    if (this.#pumping) return;
    this.#pumping = true;
    try {
      const stream = this.#stream;
      while (this.#out.byteLength > 0 && this.#error === null) {
        const segments = this.#out.take();
        if (stream.writev !== undefined && segments.length > 1) {
          // Headers and bodies in one system call. The stream is done with every segment when
          // writev resolves (the adapter documents when that is); only then may they be reused.
          let bytes = 0;
          for (const segment of segments) bytes += segment.length;
          try {
            await stream.writev(segments);
          } catch (cause) {
            // A vectored write does not say how far it got: 0 is a lower bound here.
            throw new PartialWriteError(0, bytes, cause);
          }
          for (const segment of segments) this.#out.recycle(segment);
          this.#written += bytes;
          this.#settleFlushes();
        } else {
          for (const segment of segments) {
            // The stream is done with `segment` when its write resolves (each adapter documents
            // when that is); only then may its chunk be reused.
            await writeAll(stream, segment);
            this.#out.recycle(segment);
            this.#written += segment.length;
            this.#settleFlushes();
          }
        }
        if (this.#blocked && this.unsent <= this.#highWaterMark / 2) {
          this.#blocked = false;
          this.#onBlockedChange?.(false);
        }
      }
    } catch (error) {
      // A failure after fail() (the socket released under a write) keeps the first error.
      const first = this.#error === null;
      this.#error ??= error;
      this.#closed = true;
      for (const waiter of this.#flushWaiters.splice(0)) waiter.reject(this.#error);
      if (first) this.#onWriteError?.(error);
    } finally {
      this.#pumping = false;
    }
  }

  #settleFlushes(): void {
    const waiters = this.#flushWaiters;
    while (waiters.length > 0 && waiters[0]!.target <= this.#written) waiters.shift()!.resolve();
  }
}
