/**
 * A framed connection: any {@linkcode ByteStream} plus a {@linkcode Codec}, with corked writes,
 * three ways to receive, backpressure in both directions, and a graceful close. It composes a
 * {@linkcode FrameReader} and a {@linkcode FrameWriter}, and owns what ties them together: when
 * reading pauses for unsent replies, and how the connection ends.
 *
 * @module
 */

import type { Address, ByteStream, TlsInfo } from "./byte_stream.ts";
import type { ProxyInfo } from "./proxy_protocol.ts";
import type { TlsConnectOptions } from "./tls.ts";
import type { Codec } from "./codec.ts";
import { ConnectionClosedError, IdleTimeoutError, TlsError } from "./errors.ts";
import { FrameReader, type ReadFrameOptions } from "./frame_reader.ts";
import { FrameWriter } from "./frame_writer.ts";

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
  /** Close the connection when no byte arrives for this long (milliseconds). Default 0 (never). */
  idleTimeout?: number;
  /**
   * How long (milliseconds) `close()` keeps reading (and discarding) after it has sent FIN,
   * waiting for the peer to end its side. Releasing a socket while the peer still sends makes the
   * kernel reset the connection and drop bytes not yet delivered; waiting for the peer's end of
   * stream avoids that. Default 2,000 ms.
   */
  lingerTimeout?: number;
}

const DEFAULT_LINGER_TIMEOUT = 2_000;

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
 * - `readable`: a `ReadableStream` of frames, for `pipeTo` and `pipeThrough`; with `writable`,
 *   an echo is `conn.readable.pipeTo(conn.writable)`.
 *
 * Received frames are yours to keep: they are never overwritten (a frame is either a view of a
 * chunk that is not reused, or a copy), unless you ask `onFrame` to lend them (`borrow: true`).
 *
 * **Closing.** `close()` is graceful: it sends everything written so far, then FIN, waits briefly
 * for the peer to end its side, and releases the socket; it rejects if the frames could not be
 * sent. `abort()` releases the socket at once and drops unsent frames, with an error to whoever
 * waits for them. `await using conn = ...` calls `close()` at the end of the scope.
 *
 * A decode error (oversize, garbage, end of stream mid-frame) is thrown from `readFrame` or rejects
 * `onFrame`'s promise, and closes this connection only (gracefully: replies already written are
 * still sent). An idle timeout aborts it.
 *
 * @example A framed round trip over an in-memory stream pair
 * ```ts
 * import { FramedConn, lengthPrefix, memoryStreamPair } from "@nianbao/framed";
 *
 * const [a, b] = memoryStreamPair();
 * await using client = new FramedConn(a, lengthPrefix());
 * await using server = new FramedConn(b, lengthPrefix());
 * client.write(new TextEncoder().encode("hello"));
 * for await (const frame of server) {
 *   server.write(frame); // echo
 *   break;
 * }
 * const reply = await client.readFrame();
 * if (new TextDecoder().decode(reply!) !== "hello") throw new Error("no echo");
 * ```
 */
export class FramedConn<T> implements AsyncIterable<T>, AsyncDisposable {
  /** The codec frames are encoded and decoded with. */
  readonly codec: Codec<T>;
  /** The underlying byte stream. Writing to it directly bypasses framing; don't. */
  readonly stream: ByteStream;

  readonly #reader: FrameReader<T>;
  readonly #writer: FrameWriter<T>;
  readonly #options: FramedConnOptions;
  readonly #lingerTimeout: number;
  // #closing is close()'s promise; #released once the socket itself is closed.
  #closing: Promise<void> | null = null;
  #released = false;
  // closeWrite()'s promise: FIN is sent once, whoever asks first.
  #endSent: Promise<void> | null = null;
  // Web Streams over this connection, made on first use.
  #readable: ReadableStream<T> | null = null;
  #writable: WritableStream<T> | null = null;

  /**
   * Wraps a connected byte stream.
   *
   * @param stream A connected byte stream from any adapter.
   * @param codec The framing to use.
   * @param options Backpressure limits, idle and linger timeouts.
   */
  constructor(stream: ByteStream, codec: Codec<T>, options: FramedConnOptions = {}) {
    this.stream = stream;
    this.codec = codec;
    this.#options = options;
    this.#lingerTimeout = options.lingerTimeout ?? DEFAULT_LINGER_TIMEOUT;
    this.#reader = new FrameReader(stream, codec, {
      readHighWaterMark: options.readHighWaterMark,
      idleTimeout: options.idleTimeout,
      // A silent peer is let go at once; after bad input, replies already written still go, and
      // a later write() throws the read's error (the cause), not a bare "closed".
      onFailure: (error) => {
        if (error instanceof IdleTimeoutError) return this.abort(error);
        this.#writer.close(error);
        void this.close();
      },
    });
    const pauseReads = options.pauseReadsWhileWriteBlocked ?? true;
    this.#writer = new FrameWriter(stream, codec, {
      writeHighWaterMark: options.writeHighWaterMark,
      onBlockedChange: pauseReads ? (blocked) => this.#reader.hold(blocked) : undefined,
      onWriteError: (error) => this.abort(error),
    });
  }

  /**
   * The local end of the connection: `host:port`, or `unix:PATH`. Tell the kinds apart by
   * `transport` (`"tcp"` or `"unix"`).
   */
  get localAddress(): Address {
    return this.stream.localAddress;
  }

  /** The peer's end of the connection (an unnamed unix socket prints as `unix:`). */
  get remoteAddress(): Address {
    return this.stream.remoteAddress;
  }

  /** What the TLS handshake agreed on (`alpnProtocol`); `undefined` when the connection is not TLS. */
  get tls(): TlsInfo | undefined {
    return this.stream.tls;
  }

  /**
   * The PROXY header the connection began with (its `source` is `remoteAddress`, its
   * `proxyAddress` the load balancer), on a listener with `proxyProtocol`; `undefined` otherwise.
   */
  get proxy(): ProxyInfo | undefined {
    return this.stream.proxy;
  }

  // ── Receiving ──────────────────────────────────────────────────────────────────────────────

  /**
   * Reads the next frame.
   * @param options `pauseAfter: true` stops reading from the socket once this frame has arrived,
   * until {@linkcode FramedConn.resumeReading} or {@linkcode FramedConn.startTls}: for the last
   * plaintext frame of a STARTTLS exchange. `signal`: aborting it gives up the wait, with the
   * signal's reason; the next frame then goes to the next reader, never lost.
   * @returns The frame, or `null` after a clean end of stream or a local `close()`/`abort()`.
   * @throws {FramedError} On a decode error, an end of stream mid-frame, or a connection failure.
   * @throws The reason of `signal`, when it is aborted before a frame arrives.
   */
  readFrame(options?: ReadFrameOptions): Promise<T | null> {
    return this.#reader.readFrame(options);
  }

  /** Reads from the socket again after `readFrame({ pauseAfter: true })` (TLS was refused). */
  resumeReading(): void {
    this.#reader.resumeReading();
  }

  /** Iterates over frames until a clean end of stream; throws what `readFrame` throws. */
  [Symbol.asyncIterator](): AsyncIterator<T> {
    return this.#reader[Symbol.asyncIterator]();
  }

  /**
   * Delivers every frame to a synchronous `handler`, with no promise per frame: the fast receive
   * path. Frames already queued by `readFrame` are delivered first. Calling it while a
   * `readFrame()` or `for await` waits for a frame throws a `TypeError`, and so does `readFrame()`
   * once it is called: use one way per connection.
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
    return this.#reader.onFrame(handler, options);
  }

  /**
   * Stops reading from the peer, for a graceful shutdown: frames already received are still
   * delivered, then reading ends as at a clean end of stream. Writing goes on.
   */
  stopReading(): void {
    this.#reader.end();
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
    return this.#writer.write(frame);
  }

  /**
   * Writes a frame whose body you produce in place: the codec's header goes into the cork buffer,
   * then `fill` is called at once with a view of exactly `length` bytes right after it, and
   * whatever `fill` writes there is sent, with no copy of the body in any runtime. For producers
   * that build the body themselves: a serializer, a file read (`readSync` into the view), a proxy
   * copying from another buffer. The length-prefix codecs have it; a codec without `encodeWith`
   * (delimiters must see the body first, JSON headers) throws a `TypeError`.
   *
   * @param length The body's length in bytes, known up front.
   * @param fill Writes the body. It must write all `length` bytes (the view holds bytes sent
   * earlier until then) and must not keep the view after it returns.
   * @returns `false` when more than `writeHighWaterMark` bytes are waiting: await `flush()`.
   * @throws {FrameTooLargeError} When `length` is over the codec's limit (`fill` is not called).
   * @throws {ConnectionClosedError} After `close()`, `abort()` or a failed write.
   * @throws What `fill` throws; nothing is sent then.
   *
   * @example A frame serialized straight into the outgoing buffer
   * ```ts
   * import { FramedConn, lengthPrefix, memoryStreamPair } from "@nianbao/framed";
   *
   * const [a, b] = memoryStreamPair();
   * const client = new FramedConn(a, lengthPrefix());
   * const server = new FramedConn(b, lengthPrefix());
   * client.writeWith(8, (body) => new DataView(body.buffer, body.byteOffset).setFloat64(0, Math.PI));
   * const frame = await server.readFrame();
   * if (new DataView(frame!.buffer, frame!.byteOffset).getFloat64(0) !== Math.PI) throw new Error();
   * await Promise.all([client.close(), server.close()]);
   * ```
   */
  writeWith(length: number, fill: (body: Uint8Array) => void): boolean {
    return this.#writer.writeWith(length, fill);
  }

  /**
   * Sends everything written so far.
   * @returns A promise that resolves once those bytes are handed to the operating system.
   * @throws {PartialWriteError} When the connection failed while sending.
   */
  flush(): Promise<void> {
    return this.#writer.flush();
  }

  /**
   * Writes one frame and flushes it.
   * @param frame The frame to send.
   * @returns A promise that resolves once the frame is handed to the operating system.
   */
  writeFrame(frame: T): Promise<void> {
    try {
      this.#writer.write(frame);
    } catch (error) {
      return Promise.reject(error);
    }
    return this.#writer.flush();
  }

  /**
   * Flushes, then sends FIN: the peer sees a clean end of stream, and reading goes on.
   * Idempotent: every call returns the same promise, and a later `close()` sends no second FIN.
   * @returns A promise that resolves once FIN is sent.
   */
  closeWrite(): Promise<void> {
    if (this.#endSent === null) {
      this.#endSent = (async () => {
        await this.#writer.flush();
        await this.stream.closeWrite();
      })();
      this.#endSent.catch(() => {});
    }
    return this.#endSent;
  }

  // ── Web Streams ────────────────────────────────────────────────────────────────────────────

  /**
   * The received frames as a `ReadableStream`, for `pipeTo`, `pipeThrough` and `for await`. It is
   * pulled: a frame is read only when the stream's reader asks for one, so a slow consumer leaves
   * frames in the connection's queue, which pauses the socket above `readHighWaterMark`, as with
   * `readFrame()`. Cancelling it (or leaving a `for await` over it early) is
   * {@linkcode FramedConn.stopReading}: reading ends, writing goes on.
   *
   * It is one of the ways to receive: use it, or `readFrame()`/`for await`, or `onFrame()`, not
   * two on one connection (frames would be shared between them, and `onFrame()` refuses to start
   * while the stream waits for a frame). Created on first use; every access returns the same
   * stream. A decode error or a connection failure errors it, with what `readFrame` throws.
   *
   * @example An echo server in one line
   * ```ts ignore
   * import { serve } from "@nianbao/framed";
   *
   * await serve({ port: 9000, handler: (conn) => conn.readable.pipeTo(conn.writable) });
   * ```
   */
  get readable(): ReadableStream<T> {
    this.#readable ??= new ReadableStream<T>({
      pull: async (controller) => {
        const frame = await this.#reader.readFrame();
        if (frame === null) controller.close();
        else controller.enqueue(frame);
      },
      cancel: () => this.stopReading(),
      // No queue of its own: frames wait in the reader, whose queue has the high-water mark.
    }, { highWaterMark: 0 });
    return this.#readable;
  }

  /**
   * A `WritableStream` of frames to send. Its `write()` is {@linkcode FramedConn.write}, and
   * waits for `flush()` when more than `writeHighWaterMark` bytes are waiting, so `pipeTo` goes
   * no faster than the peer reads. A large body sent without a copy (64 KiB or more, where the
   * stream has `writev`) makes its write resolve only once it has been handed to the OS. `close()` is {@linkcode FramedConn.closeWrite}:
   * it ends the sending side only (FIN after everything written), as closing a Deno connection's
   * `writable` does, so replies keep arriving on `readable`; `close()` the connection when done
   * with both. `abort(reason)` is {@linkcode FramedConn.abort}. Created on first use; every access
   * returns the same stream.
   *
   * @example Sending frames from a stream, over an in-memory pair
   * ```ts
   * import { FramedConn, lengthPrefix, memoryStreamPair } from "@nianbao/framed";
   *
   * const [a, b] = memoryStreamPair();
   * const client = new FramedConn(a, lengthPrefix());
   * const server = new FramedConn(b, lengthPrefix());
   * const text = new TextEncoder();
   * // Closing the writable at the end sends the client's FIN: the server's readable then ends.
   * const sending = ReadableStream.from([text.encode("one"), text.encode("two")])
   *   .pipeTo(client.writable);
   * const frames = await Array.fromAsync(server.readable);
   * if (frames.map((f) => new TextDecoder().decode(f)).join() !== "one,two") throw new Error("lost");
   * await Promise.all([sending, server.close(), client.close()]);
   * ```
   */
  get writable(): WritableStream<T> {
    this.#writable ??= new WritableStream<T>({
      // A frame whose body went by reference (the stream has writev) resolves only once it is
      // handed to the OS, so a source may reuse its buffer after write() resolves.
      write: (frame) =>
        this.#writer.write(frame) && !this.#writer.borrowing ? undefined : this.#writer.flush(),
      close: () => this.closeWrite(),
      abort: (reason) => this.abort(reason),
    });
    return this.#writable;
  }

  // ── Closing ────────────────────────────────────────────────────────────────────────────────

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
   * @throws {PartialWriteError} When the frames could not all be sent (the peer reset first);
   * {@linkcode ConnectionClosedError} when `abort()` dropped them. The socket is released all
   * the same.
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
    this.#writer.close();
    // Keep reading and drop what arrives: a socket released with unread bytes is reset by the
    // kernel, and a reset throws away what we sent that the peer has not read yet.
    this.#reader.discard();
    try {
      await this.#writer.flush();
      if (!this.#released) {
        try {
          await (this.#endSent ?? this.stream.closeWrite());
        } catch (cause) {
          throw new ConnectionClosedError("the connection failed while sending its end", { cause });
        }
      }
      await this.#lingerUntilPeerEnds();
    } finally {
      this.#release(undefined);
    }
  }

  async #lingerUntilPeerEnds(): Promise<void> {
    if (this.#released || this.#lingerTimeout <= 0) return;
    let timer: ReturnType<typeof setTimeout> | undefined;
    const timeout = new Promise<void>((resolve) => {
      timer = setTimeout(resolve, this.#lingerTimeout);
    });
    await Promise.race([this.#reader.peerEnded(), timeout]);
    clearTimeout(timer);
  }

  /**
   * Closes at once: the socket is released, unsent frames are dropped (pending `flush()`,
   * `writeFrame()` and `close()` calls reject with {@linkcode ConnectionClosedError}), and
   * pending reads resolve to `null`. Idempotent.
   *
   * @param reason Why, kept as the `cause` of the errors unsent frames are rejected with.
   */
  abort(reason?: unknown): void {
    this.#release(reason);
  }

  #release(reason: unknown): void {
    if (this.#released) return;
    this.#released = true;
    this.stream.close();
    this.#reader.release();
    this.#writer.fail(
      new ConnectionClosedError(
        "the connection was closed before the frames were sent",
        reason === undefined ? undefined : { cause: reason },
      ),
    );
  }

  // ── STARTTLS ───────────────────────────────────────────────────────────────────────────────

  /**
   * Starts TLS on this connection as the client (STARTTLS, as in SMTP, IMAP, XMPP or PostgreSQL):
   * flushes what was written, hands the socket to the runtime's TLS, verifies the server's
   * certificate and returns the connection as a new `FramedConn` (same codec and options). This
   * one is done with: it reads `null`, its `write()` throws, and closing it does nothing.
   *
   * Read the last plaintext frame (the server's "go ahead") with `readFrame({ pauseAfter: true })`:
   * the handshake that follows must stay in the socket for TLS to read. Anything that arrived
   * after that frame is plaintext injected before the handshake (the STARTTLS injection attack,
   * CVE-2011-0411): the connection is aborted and a `TlsError` thrown.
   *
   * @param options The CA to trust, the name to check (default: the hostname connected to), ALPN.
   * @returns The connection over TLS, once the handshake has succeeded.
   * @throws {TlsError} When the handshake fails or plaintext followed the last frame; the
   * connection is closed.
   * @throws {TypeError} When the stream cannot start TLS (a unix socket, an in-memory stream, a
   * connection already TLS), or reading was not stopped with `pauseAfter`: the connection is then
   * left as it was. Once the upgrade has begun, this connection belongs to it: `close()` and
   * `abort()` do nothing, `write()` throws; close the connection `startTls()` returns.
   *
   * @example The client side of a STARTTLS exchange
   * ```ts ignore
   * import { connect, lines } from "@nianbao/framed";
   *
   * const conn = await connect({
   *   hostname: "mail.example.com",
   *   port: 587,
   *   codec: lines({ newline: "\r\n" }),
   * });
   * await conn.writeFrame("STARTTLS");
   * const reply = await conn.readFrame({ pauseAfter: true }); // "220 go ahead"
   * const secure = await conn.startTls(); // verifies mail.example.com's certificate
   * ```
   */
  async startTls(options: TlsConnectOptions = {}): Promise<FramedConn<T>> {
    const startTls = this.stream.startTls;
    const stream = this.stream;
    // Everything that can refuse the upgrade is checked first, while nothing has changed: a
    // TypeError leaves the connection as it was.
    if (
      startTls === undefined || stream.tls !== undefined || stream.remoteAddress.transport !== "tcp"
    ) {
      throw new TypeError("this connection cannot start TLS (not a plain TCP socket)");
    }
    if (this.closed) throw new ConnectionClosedError();
    // From here on the socket belongs to the upgrade, at once: write() throws (nothing may follow
    // the plaintext already written), reads end, and close()/abort() leave the socket alone. On
    // any failure below the socket is closed here, so it never outlives a failed upgrade.
    const leftover = this.#reader.handOver();
    this.#released = true;
    this.#closing = Promise.resolve();
    this.#writer.close(new ConnectionClosedError("the connection moved to TLS"));
    try {
      await this.#writer.flush();
      if (leftover > 0) {
        throw new TlsError(
          stream.remoteAddress,
          new Error("bytes arrived after the last plaintext frame, before the TLS handshake"),
        );
      }
      const secure = await startTls.call(stream, options);
      return new FramedConn(secure, this.codec, this.#options);
    } catch (error) {
      // A no-op when the adapter already gave the socket to TLS (it closes it on failure).
      stream.close();
      throw error;
    }
  }

  /** Closes gracefully at the end of an `await using` scope; see {@linkcode FramedConn.close}. */
  [Symbol.asyncDispose](): Promise<void> {
    return this.close();
  }

  /** `true` after `close()`, `abort()` or a fatal error: `write()` throws from then on. */
  get closed(): boolean {
    return this.#closing !== null || this.#released;
  }
}
