/**
 * The two interfaces every codec implements. A codec is pure: bytes in, frames out, with no
 * sockets, timers or runtime APIs, so every framing bug can be reproduced in a unit test.
 *
 * @module
 */

/**
 * Where an encoder writes. Small frames are copied into {@linkcode EncodeSink.bytes} after
 * {@linkcode EncodeSink.reserve}; large bodies are appended by reference with
 * {@linkcode EncodeSink.appendBorrowed}, and the sink decides whether to copy them (one
 * contiguous write is cheaper where every write is a system call) or to send them as they are
 * (where the stream takes many buffers in one `writev`).
 */
export interface EncodeSink {
  /** The buffer currently being filled. Valid until the next `reserve` or `appendBorrowed`. */
  readonly bytes: Uint8Array;
  /** How many bytes of `bytes` are filled. Encoders advance it after writing. */
  length: number;
  /**
   * Makes room for `size` more bytes at `length`.
   * @returns The buffer to write into (the same object as `bytes` afterwards).
   */
  reserve(size: number): Uint8Array;
  /**
   * Appends `segment`, perhaps by reference: the caller must not change it until it is sent.
   */
  appendBorrowed(segment: Uint8Array): void;
}

/**
 * Turns frames into bytes and bytes into frames. `T` is the frame type: `Uint8Array` for the length
 * and delimiter codecs, a header-and-body object for the JSON-header codec.
 *
 * Web Streams need nothing more: `encoderStream(codec)` and `decoderStream(codec)` work with any
 * codec, and the built-in codecs have them as methods too ({@linkcode WebStreamCodec}, kept out of
 * this interface so that codecs written before it still compile).
 *
 * @example Round-tripping through any codec
 * ```ts
 * import { type Codec, decodeAll, lengthPrefix } from "@nianbao/framed";
 *
 * const codec: Codec<Uint8Array> = lengthPrefix();
 * const wire = codec.encode(new Uint8Array([1, 2, 3]));
 * if (String(decodeAll(codec, wire)) !== "1,2,3") throw new Error("round trip failed");
 * ```
 */
export interface Codec<T> extends DecoderSource<T> {
  /** A short description, such as `"length-prefix(u32be)"`. */
  readonly name: string;
  /**
   * Appends the encoding of `frame` to `sink`.
   * @throws {FrameTooLargeError} When the frame is over the codec's limit.
   */
  encodeTo(frame: T, sink: EncodeSink): void;
  /** Encodes one frame into a new buffer. */
  encode(frame: T): Uint8Array;
  /**
   * Optional: appends a frame whose `length`-byte body the caller writes in place, so the body is
   * never copied. The codec writes its header, then calls `fill` with a view of exactly `length`
   * bytes of the outgoing buffer; `fill` must write every one of them (their content is
   * unspecified before: bytes sent earlier). If `fill` throws, nothing is appended. Codecs that
   * cannot frame a body they have not seen (a delimiter must check it) leave it out.
   * `FramedConn.writeWith` uses it.
   * @throws {FrameTooLargeError} When `length` is over the codec's limit (`fill` is not called).
   */
  encodeWith?(length: number, fill: (body: Uint8Array) => void, sink: EncodeSink): void;
}

/**
 * What a connection reads frames with: every {@linkcode Codec} is one, and so is a decoder
 * factory on its own (a streaming decoder, a protocol state machine), so any decoder gets the
 * same queue, backpressure and `for await` as a codec's frames.
 *
 * @example A decoder source of single bytes, read by a FrameReader
 * ```ts
 * import { type Decoder, type DecoderSource, FrameReader, memoryStreamPair, sendAll } from "@nianbao/framed";
 *
 * const bytes: DecoderSource<number> = {
 *   createDecoder: (): Decoder<number> => ({
 *     push(chunk, onFrame) {
 *       for (const byte of chunk) onFrame(byte);
 *       return false;
 *     },
 *     finish() {},
 *     bufferedBytes: 0,
 *   }),
 *   sizeOf: () => 1,
 * };
 * const [a, b] = memoryStreamPair();
 * const reader = new FrameReader(b, bytes);
 * await sendAll(a, new Uint8Array([7]));
 * if (await reader.readFrame() !== 7) throw new Error("expected 7");
 * ```
 */
export interface DecoderSource<T> {
  /** Creates a decoder with its own state; use one per connection. */
  createDecoder(options?: DecoderOptions): Decoder<T>;
  /**
   * What a decoded frame costs while it waits to be read, in bytes: read backpressure counts it.
   * Default: a `Uint8Array`'s length plus 64, and 256 for anything else.
   */
  sizeOf?(frame: T): number;
}

/** Options of {@linkcode Codec.createDecoder}. */
export interface DecoderOptions {
  /**
   * Assemble frames that span chunks in one buffer reused for every such frame, instead of a fresh
   * buffer per frame. Such a frame is then valid only until `onFrame` returns (the same `push` may
   * start the next such frame in that buffer): for consumers that finish with each frame inside
   * `onFrame`, this makes decoding allocation-free. A hint: codecs
   * that cannot honour it ignore it. Default `false`.
   */
  reuseFrameBuffer?: boolean;
}

/**
 * Incremental decoder: feed it chunks of any size, it calls back once per complete frame.
 *
 * Frames that lie entirely inside one pushed chunk are zero-copy `subarray` views of that chunk;
 * frames that span chunks are assembled in a fresh buffer that belongs to the frame alone. `push`
 * returns `true` when it handed out at least one view, so a caller that reuses its read buffer knows
 * when it must not.
 *
 * After a decode error the decoder stays failed: every later `push` throws the same error. It never
 * guesses where the next frame starts.
 *
 * @example Feeding a stream one byte at a time
 * ```ts
 * import { lengthPrefix } from "@nianbao/framed";
 *
 * const codec = lengthPrefix({ lengthFormat: "u8" });
 * const decoder = codec.createDecoder();
 * const frames: Uint8Array[] = [];
 * for (const byte of [2, 104, 105]) decoder.push(new Uint8Array([byte]), (f) => frames.push(f));
 * decoder.finish();
 * if (new TextDecoder().decode(frames[0]) !== "hi") throw new Error("expected one frame, hi");
 * ```
 */
export interface Decoder<T> {
  /**
   * Feeds bytes and calls `onFrame` synchronously for every frame they complete.
   * @returns `true` when an emitted frame is a view into `chunk`.
   * @throws {FramedError} On invalid input; the decoder then stays failed.
   */
  push(chunk: Uint8Array, onFrame: (frame: T) => void): boolean;
  /**
   * Declares the end of the stream. A codec whose last frame needs no terminator (a delimited
   * record without its final delimiter, like tokio's `decode_eof`) hands it to `onFrame` here; a
   * caller that passes no `onFrame` gets {@linkcode IncompleteFrameError} for it instead of losing
   * it silently.
   * @throws {IncompleteFrameError} When the stream ended in the middle of a frame.
   */
  finish(onFrame?: (frame: T) => void): void;
  /** Bytes held for a frame that is not complete yet. */
  readonly bufferedBytes: number;
}

/**
 * Decodes a whole byte string that holds complete frames. Handy in tests and for files.
 *
 * @param codec The codec to decode with.
 * @param bytes One or more complete frames.
 * @returns The frames, in order.
 * @throws {IncompleteFrameError} When the last frame is cut short.
 *
 * @example
 * ```ts
 * import { decodeAll, lengthPrefix } from "@nianbao/framed";
 *
 * const codec = lengthPrefix({ lengthFormat: "u16be" });
 * const frames = decodeAll(codec, new Uint8Array([0, 1, 65, 0, 0]));
 * if (frames.length !== 2 || frames[0]![0] !== 65 || frames[1]!.length !== 0) throw new Error("expected [A] and []");
 * ```
 */
export function decodeAll<T>(codec: Codec<T>, bytes: Uint8Array): T[] {
  const frames: T[] = [];
  const decoder = codec.createDecoder();
  decoder.push(bytes, (frame) => frames.push(frame));
  decoder.finish((frame) => frames.push(frame));
  return frames;
}
