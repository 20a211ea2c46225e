/**
 * Length header formats, described once as a table of width, endianness and signedness. Every
 * codec that writes or reads a length goes through the functions here.
 *
 * @module
 */

import { FrameTooLargeError, InvalidLengthError } from "./errors.ts";

/**
 * How a length is written on the wire. Fixed formats match Python's `struct` exactly
 * (`u32be` is `">I"`, `i32le` is `"<i"`, the seed's `struct.pack('i', n)` on x86); `u24be` and
 * `u24le` (HTTP/2's and TLS's 3-byte lengths, Netty's `lengthFieldLength` 3) are Python's
 * `n.to_bytes(3, "big")` and `n.to_bytes(3, "little")`; `varint` is unsigned LEB128 as in protobuf.
 */
export type LengthFormat =
  | "u8"
  | "u16be"
  | "u16le"
  | "u24be"
  | "u24le"
  | "u32be"
  | "u32le"
  | "i32be"
  | "i32le"
  | "u64be"
  | "u64le"
  | "varint";

/** The shape of one fixed-width length format. */
export interface FixedLengthSpec {
  /** Header width in bytes. */
  readonly width: 1 | 2 | 3 | 4 | 8;
  /** Byte order. */
  readonly littleEndian: boolean;
  /** Whether the field is two's-complement signed (negative values are refused). */
  readonly signed: boolean;
}

/**
 * The one table of fixed-width formats. `varint` is the only variable-width format.
 *
 * @example
 * ```ts
 * import { FIXED_LENGTH_FORMATS } from "@nianbao/framed";
 *
 * const { width, littleEndian, signed } = FIXED_LENGTH_FORMATS.i32le;
 * if (width !== 4 || !littleEndian || !signed) throw new Error("i32le is 4 signed little-endian bytes");
 * ```
 */
export const FIXED_LENGTH_FORMATS: Readonly<
  Record<Exclude<LengthFormat, "varint">, FixedLengthSpec>
> = Object.freeze({
  u8: { width: 1, littleEndian: false, signed: false },
  u16be: { width: 2, littleEndian: false, signed: false },
  u16le: { width: 2, littleEndian: true, signed: false },
  u24be: { width: 3, littleEndian: false, signed: false },
  u24le: { width: 3, littleEndian: true, signed: false },
  u32be: { width: 4, littleEndian: false, signed: false },
  u32le: { width: 4, littleEndian: true, signed: false },
  i32be: { width: 4, littleEndian: false, signed: true },
  i32le: { width: 4, littleEndian: true, signed: true },
  u64be: { width: 8, littleEndian: false, signed: false },
  u64le: { width: 8, littleEndian: true, signed: false },
});

/**
 * Every supported length format name, in table order.
 *
 * @example
 * ```ts
 * import { LENGTH_FORMATS } from "@nianbao/framed";
 *
 * if (!LENGTH_FORMATS.includes("varint")) throw new Error("varint is missing");
 * ```
 */
export const LENGTH_FORMATS: readonly LengthFormat[] = Object.freeze([
  ...(Object.keys(FIXED_LENGTH_FORMATS) as LengthFormat[]),
  "varint",
]);

/**
 * protobuf's limit: a 64-bit value takes at most 10 LEB128 bytes; a longer varint is refused.
 *
 * @example
 * ```ts
 * import { encodeLength, MAX_VARINT_BYTES } from "@nianbao/framed";
 *
 * if (encodeLength("varint", Number.MAX_SAFE_INTEGER).length > MAX_VARINT_BYTES) throw new Error("too long");
 * ```
 */
export const MAX_VARINT_BYTES = 10;

/**
 * Tells whether a string names a supported length format.
 *
 * @param value Any string, for example a command-line argument.
 * @returns `true` when `value` is a {@linkcode LengthFormat}.
 *
 * @example
 * ```ts
 * import { isLengthFormat } from "@nianbao/framed";
 *
 * if (!isLengthFormat("u32be") || isLengthFormat("u24")) throw new Error("wrong answer");
 * ```
 */
export function isLengthFormat(value: string): value is LengthFormat {
  return (LENGTH_FORMATS as readonly string[]).includes(value);
}

/**
 * The largest length a format can carry: 255 for `u8`, 2^24 - 1 for `u24*`, 2^31 - 1 for `i32*`, and 2^53 - 1 for
 * `u64*` and `varint`, because JavaScript numbers are exact only up to there.
 *
 * @param format A length format.
 * @returns The largest encodable length.
 *
 * @example
 * ```ts
 * import { maxLengthOf } from "@nianbao/framed";
 *
 * if (maxLengthOf("u16le") !== 65_535 || maxLengthOf("i32le") !== 2 ** 31 - 1) {
 *   throw new Error("wrong limits");
 * }
 * ```
 */
export function maxLengthOf(format: LengthFormat): number {
  if (format === "varint") return Number.MAX_SAFE_INTEGER;
  const spec = FIXED_LENGTH_FORMATS[format];
  if (spec.width === 8) return Number.MAX_SAFE_INTEGER;
  return 2 ** (spec.width * 8 - (spec.signed ? 1 : 0)) - 1;
}

/**
 * The number of bytes the header for `length` takes in `format`.
 *
 * @param format A length format.
 * @param length A non-negative integer length.
 * @returns The header size in bytes.
 *
 * @example
 * ```ts
 * import { lengthHeaderSize } from "@nianbao/framed";
 *
 * if (lengthHeaderSize("u32be", 300) !== 4 || lengthHeaderSize("varint", 300) !== 2) {
 *   throw new Error("wrong sizes");
 * }
 * ```
 */
export function lengthHeaderSize(format: LengthFormat, length: number): number {
  if (format !== "varint") return FIXED_LENGTH_FORMATS[format].width;
  let size = 1;
  while (length >= 128) {
    length = Math.floor(length / 128);
    size++;
  }
  return size;
}

/**
 * Writes `length` in `format` at `offset`. Refuses a length the format cannot carry.
 *
 * @param format A length format.
 * @param length A non-negative integer, at most {@linkcode maxLengthOf}`(format)`.
 * @param target The buffer to write into; it must have room for the header.
 * @param offset Where to start writing.
 * @returns The number of bytes written.
 * @throws {FrameTooLargeError} When the format cannot carry `length`.
 *
 * @example Python's struct.pack('<i', 5)
 * ```ts
 * import { writeLength } from "@nianbao/framed";
 *
 * const header = new Uint8Array(4);
 * writeLength("i32le", 5, header, 0);
 * if (String(header) !== "5,0,0,0") throw new Error(`got ${header}`);
 * ```
 */
export function writeLength(
  format: LengthFormat,
  length: number,
  target: Uint8Array,
  offset: number,
): number {
  const max = maxLengthOf(format);
  if (!(length >= 0 && length <= max && Number.isInteger(length))) {
    throw new FrameTooLargeError(length, max, "encode");
  }
  if (format === "varint") {
    let at = offset;
    while (length >= 128) {
      target[at++] = (length % 128) | 0x80;
      length = Math.floor(length / 128);
    }
    target[at++] = length;
    return at - offset;
  }
  const { width, littleEndian } = FIXED_LENGTH_FORMATS[format];
  for (let i = 0; i < width; i++) {
    target[offset + (littleEndian ? i : width - 1 - i)] = length % 256;
    length = Math.floor(length / 256);
  }
  return width;
}

/**
 * Encodes a length header into a new buffer.
 *
 * @param format A length format.
 * @param length A non-negative integer length.
 * @returns The header bytes.
 *
 * @example protobuf's varint for 300
 * ```ts
 * import { encodeLength } from "@nianbao/framed";
 *
 * if (String(encodeLength("varint", 300)) !== "172,2") throw new Error("not protobuf's varint");
 * ```
 */
export function encodeLength(format: LengthFormat, length: number): Uint8Array {
  const header = new Uint8Array(lengthHeaderSize(format, length));
  writeLength(format, length, header, 0);
  return header;
}

/**
 * Reads a fixed-width length at `offset`; the caller guarantees `width` bytes are there.
 * Validates sign and the 2^53 limit.
 *
 * @param spec The format's row of the table.
 * @param bytes The buffer.
 * @param offset Where the header starts.
 * @returns The length.
 * @throws {InvalidLengthError} On a negative or unsafe length.
 *
 * @example
 * ```ts
 * import { FIXED_LENGTH_FORMATS, readFixedLength } from "@nianbao/framed";
 *
 * const bytes = new Uint8Array([0, 0, 1, 0]);
 * if (readFixedLength(FIXED_LENGTH_FORMATS.u32be, bytes, 0) !== 256) throw new Error("misread");
 * ```
 */
export function readFixedLength(spec: FixedLengthSpec, bytes: Uint8Array, offset: number): number {
  const { width, littleEndian } = spec;
  let value = 0;
  // Multiplying instead of shifting keeps values above 2^31 positive; above 2^53 the result is
  // inexact but still compares greater than MAX_SAFE_INTEGER, which is all the check needs.
  if (littleEndian) {
    for (let i = width - 1; i >= 0; i--) value = value * 256 + bytes[offset + i]!;
  } else {
    for (let i = 0; i < width; i++) value = value * 256 + bytes[offset + i]!;
  }
  if (spec.signed && value >= 2 ** (width * 8 - 1)) {
    throw new InvalidLengthError("negative", value - 2 ** (width * 8));
  }
  if (value > Number.MAX_SAFE_INTEGER) throw new InvalidLengthError("unsafe-integer", value);
  return value;
}
