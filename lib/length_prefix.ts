/**
 * The length-prefix codec: `[length header][payload]`, the standard fix for sticky packets.
 *
 * @module
 */

import { encodeToBytes } from "./_byte_queue.ts";
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
 * the connection's choice: where the stream takes many buffers in one `writev` (node:net, in every
 * runtime) such bodies leave without a copy; where every write is a system call of its own (Deno,
 * Bun), bodies under 1 MiB are copied into the outgoing buffer so that a burst stays one write.
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

/** Options of {@linkcode lengthPrefix}. */
export interface LengthPrefixOptions {
  /** How the length is written. Default `"u32be"` (network order, as tokio-util and Netty). */
  lengthFormat?: LengthFormat;
  /** The largest payload accepted or sent, in bytes. Default 16 MiB. */
  maxFrameLength?: number;
}

/**
 * Creates a length-prefix codec. Each frame is a length header followed by exactly that many
 * payload bytes; the header counts the payload only. Empty frames are real frames.
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
 */
export function lengthPrefix(options: LengthPrefixOptions = {}): WebStreamCodec<Uint8Array> {
  return new LengthPrefixCodec(options);
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
