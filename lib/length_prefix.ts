/**
 * The length-prefix codec: `[length header][payload]`, the standard fix for sticky packets.
 *
 * @module
 */

import { encodeToBytes } from "./_byte_queue.ts";
import { LengthFieldCodec } from "./_length_field_codec.ts";
import type { LengthFieldLayout } from "./_length_field_decoder.ts";
import { LengthPrefixDecoder } from "./_length_prefix_decoder.ts";
import type { Decoder, DecoderOptions, EncodeSink } from "./codec.ts";
import { FrameTooLargeError } from "./errors.ts";
import {
  FIXED_LENGTH_FORMATS,
  type LengthFormat,
  lengthHeaderSize,
  maxLengthOf,
  writeLength,
} from "./length_format.ts";
import { decoderStream, encoderStream, type WebStreamCodec } from "./web_streams.ts";

/**
 * The default frame limit: 16 MiB, checked before anything is buffered.
 *
 * @example
 * ```ts
 * import { DEFAULT_MAX_FRAME_LENGTH, FrameTooLargeError, lengthPrefix } from "@nianbao/framed";
 *
 * try {
 *   lengthPrefix().encode(new Uint8Array(DEFAULT_MAX_FRAME_LENGTH + 1));
 *   throw new Error("over the default limit");
 * } catch (error) {
 *   if (!(error instanceof FrameTooLargeError)) throw error;
 * }
 * ```
 */
export const DEFAULT_MAX_FRAME_LENGTH: number = 16 * 1024 * 1024;

/**
 * Frames (and JSON-header bodies) at least this large may be sent by reference instead of being
 * copied: don't change one passed to `write()` until `flush()` resolves. Whether it is copied is
 * the connection's choice: where the stream takes many buffers in one `writev` (Node's net
 * module, in every runtime) such bodies leave without a copy; where every write is a system call
 * of its own (Deno, Bun), bodies under 1 MiB are copied into the outgoing buffer so that a burst
 * stays one write.
 * `conn.writeWith()` writes a body in place, with no copy anywhere.
 *
 * @example
 * ```ts
 * import { BORROW_THRESHOLD } from "@nianbao/framed";
 *
 * // A 64 KiB frame passed to conn.write() must stay unchanged until conn.flush() resolves.
 * if (BORROW_THRESHOLD !== 64 * 1024) throw new Error("documented as 64 KiB");
 * ```
 */
export const BORROW_THRESHOLD: number = 64 * 1024;

/**
 * Options of {@linkcode lengthPrefix}. The last three describe length fields of existing
 * protocols, with the meaning Netty's `LengthFieldBasedFrameDecoder` gives them (a frame on the
 * wire is `[lengthFieldOffset bytes][length field][value + lengthAdjustment bytes]`, and the first
 * `stripBytes` of it are removed); the README maps tokio's `length_delimited::Builder` onto them.
 */
export interface LengthPrefixOptions {
  /**
   * How the length field is written. Default `"u32be"` (network order, as tokio-util and Netty);
   * Netty's and tokio's `lengthFieldLength` of 1, 2 or 4 bytes, big-endian, is `"u8"`,
   * `"u16be"` or `"u32be"`.
   */
  lengthFormat?: LengthFormat;
  /**
   * The largest number of bytes after the length field (field value + `lengthAdjustment`),
   * checked from the header before anything of the frame is buffered, and when encoding. By
   * default that is the payload; then tokio checks the same number (its check is on the value
   * before the adjustment), while Netty's `maxFrameLength` counts the whole frame, header
   * included. Default 16 MiB.
   */
  maxFrameLength?: number;
  /**
   * Bytes before the length field (`lengthFieldOffset` in Netty and tokio). Default 0. A frame
   * given to `write()` must start with them (see `stripBytes`), unless they are stripped, which
   * makes the codec decode-only.
   */
  lengthFieldOffset?: number;
  /**
   * Added to the length field's value to get the number of bytes that follow the field: negative
   * when the value counts the header too (`-` the header size when it counts the whole frame),
   * positive when more header bytes follow the field that the value does not count. Netty's
   * `lengthAdjustment`; tokio's `length_adjustment` when `num_skip` is left at its default.
   * Default 0. When encoding, the field is written as (bytes after the field) - `lengthAdjustment`.
   * A decoded value + adjustment below 0 is an `InvalidLengthError`.
   */
  lengthAdjustment?: number;
  /**
   * How many bytes from the frame's start are removed from each decoded frame (Netty's
   * `initialBytesToStrip`, tokio's `num_skip`). Default: the whole header, that is
   * `lengthFieldOffset` plus the field's width, so frames are what follows the field. `0` keeps
   * the header in the frame. A frame given to `write()` is a decoded frame: when it keeps header
   * bytes it must hold them, with the length field's bytes as a placeholder the encoder
   * overwrites. Stripping bytes the encoder cannot make up (bytes before the field, or after
   * it) leaves a codec that decodes but refuses to encode with a `TypeError`. With `"varint"`,
   * whose width varies, it must be left out or at most `lengthFieldOffset`.
   */
  stripBytes?: number;
}

/**
 * Creates a length-prefix codec. Each frame is a length header followed by exactly that many
 * payload bytes; the header counts the payload only. Empty frames are real frames. The options
 * `lengthFieldOffset`, `lengthAdjustment` and `stripBytes` describe the length fields of existing
 * protocols, as Netty's `LengthFieldBasedFrameDecoder` and tokio's `length_delimited::Builder` do.
 *
 * @param options Header format and frame limit.
 * @returns A codec of `Uint8Array` frames, with `encoderStream()` and `decoderStream()`.
 *
 * @example The seed's `struct.pack('i', n)` framing
 * ```ts
 * import { decodeAll, lengthPrefix } from "@nianbao/framed";
 *
 * const codec = lengthPrefix({ lengthFormat: "i32le" });
 * const wire = codec.encode(new TextEncoder().encode("hello"));
 * if (String(wire.subarray(0, 4)) !== "5,0,0,0") throw new Error("not struct.pack('i', 5)");
 * if (new TextDecoder().decode(decodeAll(codec, wire)[0]) !== "hello") throw new Error("round trip failed");
 * ```
 *
 * @example A length that counts the whole message, after a 1-byte type (Netty's and tokio's layout options)
 * ```ts
 * import { decodeAll, lengthPrefix } from "@nianbao/framed";
 *
 * // [type: 1 byte][u16be length of the whole message][payload], delivered whole (stripBytes 0).
 * const codec = lengthPrefix({
 *   lengthFormat: "u16be",
 *   lengthFieldOffset: 1,
 *   lengthAdjustment: -3,
 *   stripBytes: 0,
 * });
 * const wire = new Uint8Array([0x07, 0, 5, 0x68, 0x69]); // type 7, length 5, "hi"
 * const [frame] = decodeAll(codec, wire);
 * if (String(frame) !== String(wire)) throw new Error("the header is kept in the frame");
 * // A frame to write holds the type and a placeholder where the encoder writes the length.
 * const written = codec.encode(new Uint8Array([0x07, 0, 0, 0x68, 0x69]));
 * if (String(written) !== String(wire)) throw new Error(`encoded ${written}`);
 * ```
 */
export function lengthPrefix(options: LengthPrefixOptions = {}): WebStreamCodec<Uint8Array> {
  // The default codec checks the format and the limit; the layout, the other options.
  const codec = new LengthPrefixCodec(options);
  const layout = lengthFieldLayout(options);
  return layout === null ? codec : new LengthFieldCodec(layout);
}

function nonNegativeInteger(name: string, value: number): number {
  if (!(Number.isSafeInteger(value) && value >= 0)) {
    throw new RangeError(`${name} must be a non-negative integer, got ${value}`);
  }
  return value;
}

/**
 * The checked layout of a length field with bytes around it, or null for the default layout
 * (field first, counting what follows, stripped), which keeps the fast codec.
 */
function lengthFieldLayout(options: LengthPrefixOptions): LengthFieldLayout | null {
  const format = options.lengthFormat ?? "u32be";
  const offset = nonNegativeInteger("lengthFieldOffset", options.lengthFieldOffset ?? 0);
  const adjustment = options.lengthAdjustment ?? 0;
  if (!Number.isSafeInteger(adjustment)) {
    throw new RangeError(`lengthAdjustment must be an integer, got ${adjustment}`);
  }
  const strip = options.stripBytes === undefined
    ? null
    : nonNegativeInteger("stripBytes", options.stripBytes);
  const width = format === "varint" ? 0 : FIXED_LENGTH_FORMATS[format].width;
  if (offset === 0 && adjustment === 0 && (strip === null || strip === width)) return null;
  // The limit is on the bytes after the field, and covers the bytes a raw value of 0 leaves.
  const limit = options.maxFrameLength ?? DEFAULT_MAX_FRAME_LENGTH;
  if (adjustment > limit) {
    throw new RangeError(
      `lengthAdjustment ${adjustment} is over maxFrameLength ${limit}: every frame would be too large`,
    );
  }
  if (strip !== null) {
    if (width === 0 && strip > offset) {
      throw new TypeError(
        `stripBytes ${strip} is past lengthFieldOffset ${offset}, inside a varint length field ` +
          `whose width varies: leave stripBytes out to strip the whole header`,
      );
    }
    if (strip > offset + Math.max(width, 1) + limit) {
      throw new RangeError(
        `stripBytes ${strip} is more than any frame holds: the header and maxFrameLength ${limit}`,
      );
    }
  }
  return { format, offset, adjustment, strip, maxFrameLength: limit };
}

class LengthPrefixCodec implements WebStreamCodec<Uint8Array> {
  readonly name: string;
  readonly #format: LengthFormat;
  readonly #maxFrameLength: number;
  // Fixed header width, or 0 for varint.
  readonly #width: number;

  constructor(options: LengthPrefixOptions) {
    this.#format = options.lengthFormat ?? "u32be";
    if (!(this.#format in FIXED_LENGTH_FORMATS) && this.#format !== "varint") {
      throw new TypeError(`unknown length format ${JSON.stringify(this.#format)}`);
    }
    const requested = options.maxFrameLength ?? DEFAULT_MAX_FRAME_LENGTH;
    if (!(Number.isInteger(requested) && requested >= 0)) {
      throw new RangeError(`maxFrameLength must be a non-negative integer, got ${requested}`);
    }
    this.#maxFrameLength = Math.min(requested, maxLengthOf(this.#format));
    this.#width = this.#format === "varint" ? 0 : FIXED_LENGTH_FORMATS[this.#format].width;
    this.name = `length-prefix(${this.#format})`;
  }

  encodeTo(frame: Uint8Array, sink: EncodeSink): void {
    const length = frame.length;
    if (length > this.#maxFrameLength) {
      throw new FrameTooLargeError(length, this.#maxFrameLength, "encode");
    }
    const headerSize = this.#width || lengthHeaderSize(this.#format, length);
    if (length >= BORROW_THRESHOLD) {
      writeLength(this.#format, length, sink.reserve(headerSize), sink.length);
      sink.length += headerSize;
      sink.appendBorrowed(frame);
      return;
    }
    const bytes = sink.reserve(headerSize + length);
    let at = sink.length;
    if (this.#width === 4 && this.#format === "u32be") {
      // The default format is the hot path for small frames: skip the generic table walk.
      bytes[at] = length >>> 24;
      bytes[at + 1] = length >>> 16;
      bytes[at + 2] = length >>> 8;
      bytes[at + 3] = length;
      at += 4;
    } else {
      at += writeLength(this.#format, length, bytes, at);
    }
    bytes.set(frame, at);
    sink.length = at + length;
  }

  encodeWith(length: number, fill: (body: Uint8Array) => void, sink: EncodeSink): void {
    if (length > this.#maxFrameLength) {
      throw new FrameTooLargeError(length, this.#maxFrameLength, "encode");
    }
    const headerSize = this.#width || lengthHeaderSize(this.#format, length);
    const bytes = sink.reserve(headerSize + length);
    // Read after reserve(), which may have moved the filled part to a new buffer.
    const start = sink.length;
    const at = start + writeLength(this.#format, length, bytes, start);
    // Nothing is appended until fill returns: if it throws, the sink is as it was.
    fill(bytes.subarray(at, at + length));
    sink.length = at + length;
  }

  encode(frame: Uint8Array): Uint8Array {
    const length = frame.length;
    if (length > this.#maxFrameLength) {
      throw new FrameTooLargeError(length, this.#maxFrameLength, "encode");
    }
    return encodeToBytes(
      (f, sink) => this.encodeTo(f, sink),
      frame,
      lengthHeaderSize(this.#format, length) + length,
    );
  }

  createDecoder(options: DecoderOptions = {}): Decoder<Uint8Array> {
    return new LengthPrefixDecoder(this.#format, this.#maxFrameLength, {
      reuseFrameBuffer: options.reuseFrameBuffer ?? false,
    });
  }

  encoderStream(): TransformStream<Uint8Array, Uint8Array> {
    return encoderStream(this);
  }

  decoderStream(): TransformStream<Uint8Array, Uint8Array> {
    return decoderStream(this);
  }
}
