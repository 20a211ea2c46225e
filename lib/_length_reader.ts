// Internal: incremental reading of one length header, shared by the length-prefix, JSON-header and
// ack-handshake decoders.

import { FrameTooLargeError, InvalidLengthError } from "./errors.ts";
import {
  FIXED_LENGTH_FORMATS,
  type FixedLengthSpec,
  type LengthFormat,
  MAX_VARINT_BYTES,
  readFixedLength,
} from "./length_format.ts";

/** Returned by `read` when the chunk ended inside the header. */
export const INCOMPLETE = -1;

type FastRead = (bytes: Uint8Array, offset: number) => number;

/**
 * A specialised reader for a header that lies whole inside one chunk: the hot path of every
 * length-prefixed stream. Built from the format's row of the table (width, byte order, sign) with
 * plain bit operations; 8-byte formats keep the generic path, which handles values above 2^32.
 * It validates as `read` does: negative and oversize lengths throw.
 */
function fastReader(spec: FixedLengthSpec, maxLength: number): FastRead | null {
  const { width, littleEndian, signed } = spec;
  let raw: FastRead;
  if (width === 1) raw = (b, o) => b[o]!;
  else if (width === 2) {
    raw = littleEndian ? (b, o) => b[o]! | (b[o + 1]! << 8) : (b, o) => (b[o]! << 8) | b[o + 1]!;
  } else if (width === 3) {
    raw = littleEndian
      ? (b, o) => b[o]! | (b[o + 1]! << 8) | (b[o + 2]! << 16)
      : (b, o) => (b[o]! << 16) | (b[o + 1]! << 8) | b[o + 2]!;
  } else if (width === 4) {
    // A signed 32-bit result: negative exactly when the top bit is set.
    raw = littleEndian
      ? (b, o) => b[o]! | (b[o + 1]! << 8) | (b[o + 2]! << 16) | (b[o + 3]! << 24)
      : (b, o) => (b[o]! << 24) | (b[o + 1]! << 16) | (b[o + 2]! << 8) | b[o + 3]!;
  } else return null;
  const unsigned32 = width === 4 && !signed;
  return (bytes, offset) => {
    let value = raw(bytes, offset);
    if (value < 0) {
      if (!unsigned32) throw new InvalidLengthError("negative", value);
      value += 2 ** 32;
    }
    if (value > maxLength) throw new FrameTooLargeError(value, maxLength, "decode");
    return value;
  };
}

/**
 * Reads a length header that may arrive split over any number of chunks. The limit is checked as
 * soon as the header is complete, before the caller allocates anything for the body.
 */
export class LengthHeaderReader {
  /** Bytes of `chunk` the last successful or incomplete `read` used. */
  consumed = 0;
  /** Size of the last complete header, in bytes. */
  headerSize = 0;
  /** The fixed header width, or 0 for varint. */
  readonly width: number;
  /** For fixed widths up to 4 bytes: reads a header that is whole in the chunk. */
  readonly fast: FastRead | null;
  readonly #spec: FixedLengthSpec | null;
  readonly #maxLength: number;
  readonly #partial = new Uint8Array(MAX_VARINT_BYTES);
  #partialLength = 0;

  constructor(format: LengthFormat, maxLength: number) {
    this.#spec = format === "varint" ? null : FIXED_LENGTH_FORMATS[format];
    this.#maxLength = maxLength;
    this.width = this.#spec?.width ?? 0;
    this.fast = this.#spec === null ? null : fastReader(this.#spec, maxLength);
  }

  /** Bytes of an unfinished header held from earlier chunks. */
  get pending(): number {
    return this.#partialLength;
  }

  /**
   * Reads the header that starts at `chunk[offset]` (continuing one held from earlier chunks).
   * @returns The length, or INCOMPLETE when the chunk ended first; `consumed` says how many bytes
   * of `chunk` were used either way.
   */
  read(chunk: Uint8Array, offset: number): number {
    const available = chunk.length - offset;
    if (this.#partialLength === 0) {
      const spec = this.#spec;
      if (spec !== null && available >= spec.width) {
        this.consumed = this.headerSize = spec.width;
        return this.#checked(readFixedLength(spec, chunk, offset));
      }
      if (spec === null) {
        const value = this.#readVarint(chunk, offset, chunk.length);
        if (value !== INCOMPLETE) {
          this.consumed = this.headerSize;
          return value;
        }
      }
    }
    // Slow path: the header straddles chunks. Copy what may belong to it and retry on the copy.
    const held = this.#partialLength;
    const room = (this.#spec?.width ?? MAX_VARINT_BYTES) - held;
    const take = Math.min(room, available);
    this.#partial.set(chunk.subarray(offset, offset + take), held);
    const filled = held + take;
    let value = INCOMPLETE;
    this.#partialLength = 0; // a refused header is not held either
    if (this.#spec !== null) {
      if (filled === this.#spec.width) {
        this.headerSize = filled;
        value = this.#checked(readFixedLength(this.#spec, this.#partial, 0));
      }
    } else {
      value = this.#readVarint(this.#partial, 0, filled);
    }
    if (value === INCOMPLETE) {
      this.#partialLength = filled;
      this.consumed = take;
      return INCOMPLETE;
    }
    this.consumed = this.headerSize - held;
    return value;
  }

  // Unsigned LEB128. Each later byte can only add to the value, so the limit is checked on the
  // partial sum too: a hostile 10-byte header is refused as early as possible.
  #readVarint(bytes: Uint8Array, offset: number, end: number): number {
    let value = 0;
    let scale = 1;
    for (let i = 0; i < MAX_VARINT_BYTES; i++) {
      if (offset + i >= end) return INCOMPLETE;
      const byte = bytes[offset + i]!;
      value += (byte & 0x7f) * scale;
      scale *= 128;
      if (value > Number.MAX_SAFE_INTEGER) throw new InvalidLengthError("unsafe-integer", value);
      if (value > this.#maxLength) throw new FrameTooLargeError(value, this.#maxLength, "decode");
      if (byte < 0x80) {
        this.headerSize = i + 1;
        return value;
      }
    }
    throw new InvalidLengthError("varint-too-long", MAX_VARINT_BYTES);
  }

  #checked(value: number): number {
    if (value > this.#maxLength) throw new FrameTooLargeError(value, this.#maxLength, "decode");
    return value;
  }
}
