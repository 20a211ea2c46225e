/**
 * The delimiter codec: records separated by `\n`, `\r\n` or any other byte string.
 *
 * @module
 */

import { encodeToBytes } from "./_byte_queue.ts";
import { FailOnceDecoder } from "./_fail_once.ts";
import { FIRST_CAPACITY, grownCapacity } from "./_partial_frame.ts";
import type { Codec, Decoder, EncodeSink } from "./codec.ts";
import { DelimiterInRecordError, FrameTooLargeError, IncompleteFrameError } from "./errors.ts";

/**
 * The default record limit for delimited streams: 64 KiB, like a long line.
 *
 * @example
 * ```ts
 * import { DEFAULT_MAX_RECORD_LENGTH, delimiter, FrameTooLargeError } from "@nianbao/framed";
 *
 * const decoder = delimiter().createDecoder();
 * try {
 *   decoder.push(new Uint8Array(DEFAULT_MAX_RECORD_LENGTH + 1), () => {});
 *   throw new Error("a record over the default limit must be refused");
 * } catch (error) {
 *   if (!(error instanceof FrameTooLargeError)) throw error;
 * }
 * ```
 */
export const DEFAULT_MAX_RECORD_LENGTH: number = 64 * 1024;

/** Options of {@linkcode delimiter}. */
export interface DelimiterOptions {
  /** The separator, as a string (UTF-8) or bytes. Default `"\n"`. Must not be empty. */
  delimiter?: string | Uint8Array;
  /**
   * The longest record accepted or sent, in bytes, without the delimiter. Default 64 KiB. The
   * decoder never buffers more than this plus the delimiter's length minus one.
   */
  maxRecordLength?: number;
}

/**
 * Creates a delimiter codec. Records exclude the delimiter. An empty record (two delimiters in a
 * row) is a real, empty frame. A stream that ends after a record with no delimiter ends mid-frame.
 *
 * @param options The delimiter and the record limit.
 * @returns A codec of `Uint8Array` records.
 *
 * @example CRLF-terminated lines
 * ```ts
 * import { decodeAll, delimiter } from "@nianbao/framed";
 *
 * const codec = delimiter({ delimiter: "\r\n" });
 * const lines = decodeAll(codec, new TextEncoder().encode("GET\r\n\r\nX\r\n"));
 * const texts = lines.map((l) => new TextDecoder().decode(l));
 * if (texts.join("|") !== "GET||X") throw new Error(`unexpected ${texts}`);
 * ```
 */
export function delimiter(options: DelimiterOptions = {}): Codec<Uint8Array> {
  return new DelimiterCodec(options);
}

/** Finds `needle` in `haystack` at or after `from`; -1 when absent. */
function indexOfBytes(haystack: Uint8Array, needle: Uint8Array, from: number): number {
  const first = needle[0]!;
  if (needle.length === 1) return haystack.indexOf(first, from);
  const last = haystack.length - needle.length;
  for (
    let i = haystack.indexOf(first, from);
    i !== -1 && i <= last;
    i = haystack.indexOf(first, i + 1)
  ) {
    let j = 1;
    while (j < needle.length && haystack[i + j] === needle[j]) j++;
    if (j === needle.length) return i;
  }
  return -1;
}

class DelimiterCodec implements Codec<Uint8Array> {
  readonly name: string;
  readonly #delimiter: Uint8Array;
  readonly #maxRecordLength: number;

  constructor(options: DelimiterOptions) {
    const raw = options.delimiter ?? "\n";
    this.#delimiter = typeof raw === "string" ? new TextEncoder().encode(raw) : raw.slice();
    if (this.#delimiter.length === 0) throw new RangeError("the delimiter must not be empty");
    this.#maxRecordLength = options.maxRecordLength ?? DEFAULT_MAX_RECORD_LENGTH;
    if (!(Number.isInteger(this.#maxRecordLength) && this.#maxRecordLength >= 0)) {
      throw new RangeError(`maxRecordLength must be a non-negative integer`);
    }
    this.name = `delimiter(${JSON.stringify(new TextDecoder().decode(this.#delimiter))})`;
  }

  encodeTo(frame: Uint8Array, sink: EncodeSink): void {
    if (frame.length > this.#maxRecordLength) {
      throw new FrameTooLargeError(frame.length, this.#maxRecordLength, "encode");
    }
    const inside = indexOfBytes(frame, this.#delimiter, 0);
    if (inside !== -1) throw new DelimiterInRecordError(inside);
    const size = frame.length + this.#delimiter.length;
    const bytes = sink.reserve(size);
    bytes.set(frame, sink.length);
    bytes.set(this.#delimiter, sink.length + frame.length);
    sink.length += size;
  }

  encode(frame: Uint8Array): Uint8Array {
    return encodeToBytes(
      (f, sink) => this.encodeTo(f, sink),
      frame,
      frame.length + this.#delimiter.length,
    );
  }

  createDecoder(): Decoder<Uint8Array> {
    return new DelimiterDecoder(this.#delimiter, this.#maxRecordLength);
  }
}

const EMPTY = new Uint8Array(0);

class DelimiterDecoder extends FailOnceDecoder<Uint8Array> {
  readonly #delimiter: Uint8Array;
  readonly #maxRecordLength: number;
  // Bytes of an unfinished record (possibly ending in part of a delimiter), from earlier chunks.
  // The buffer grows with what arrives and is let go once a long record is done, so a connection
  // that sent one long line does not keep its buffer while idle.
  #pending = EMPTY;
  #pendingLength = 0;

  constructor(delimiterBytes: Uint8Array, maxRecordLength: number) {
    super();
    this.#delimiter = delimiterBytes;
    this.#maxRecordLength = maxRecordLength;
  }

  override get bufferedBytes(): number {
    return this.#pendingLength;
  }

  /** @internal Bytes allocated for an unfinished record: lets tests see what an idle decoder keeps. */
  get reservedBytes(): number {
    return this.#pending.length;
  }

  // The held record was handed out (as a copy): keep a small buffer for the next one, not a big one.
  #released(): void {
    this.#pendingLength = 0;
    if (this.#pending.length > FIRST_CAPACITY) this.#pending = EMPTY;
  }

  protected decode(chunk: Uint8Array, onFrame: (frame: Uint8Array) => void): boolean {
    const delim = this.#delimiter;
    let offset = 0;
    if (this.#pendingLength > 0) {
      offset = this.#completePending(chunk, onFrame);
      if (offset === -1) return false;
    }
    let views = false;
    for (
      let at = indexOfBytes(chunk, delim, offset);
      at !== -1;
      at = indexOfBytes(chunk, delim, offset)
    ) {
      this.#checkRecord(at - offset);
      const record = chunk.subarray(offset, at);
      offset = at + delim.length;
      views = true;
      onFrame(record);
    }
    this.#hold(chunk.subarray(offset));
    return views;
  }

  // Finishes the record held from earlier chunks, whose delimiter may begin inside the held bytes.
  // Returns where the rest of `chunk` starts, or -1 when the whole chunk was held.
  #completePending(chunk: Uint8Array, onFrame: (frame: Uint8Array) => void): number {
    const delim = this.#delimiter;
    const held = this.#pendingLength;
    const pending = this.#pending;
    const byteAt = (i: number) => (i < held ? pending[i] : chunk[i - held]);
    for (let start = Math.max(0, held - delim.length + 1); start < held; start++) {
      if (start + delim.length > held + chunk.length) break;
      let j = 0;
      while (j < delim.length && byteAt(start + j) === delim[j]) j++;
      if (j === delim.length) {
        this.#checkRecord(start);
        const record = pending.slice(0, start);
        this.#released();
        onFrame(record);
        return start + delim.length - held;
      }
    }
    const at = indexOfBytes(chunk, delim, 0);
    if (at === -1) {
      this.#hold(chunk);
      return -1;
    }
    this.#checkRecord(held + at);
    const record = new Uint8Array(held + at);
    record.set(pending.subarray(0, held), 0);
    record.set(chunk.subarray(0, at), held);
    this.#released();
    onFrame(record);
    return at + delim.length;
  }

  #checkRecord(length: number): void {
    if (length > this.#maxRecordLength) {
      throw new FrameTooLargeError(length, this.#maxRecordLength, "decode");
    }
  }

  // Appends bytes that contain no complete delimiter to the held record, within the limit.
  #hold(bytes: Uint8Array): void {
    if (bytes.length === 0) return;
    const total = this.#pendingLength + bytes.length;
    // The held bytes may end with all but one byte of the delimiter.
    if (total > this.#maxRecordLength + this.#delimiter.length - 1) {
      throw new FrameTooLargeError(total, this.#maxRecordLength, "decode");
    }
    if (total > this.#pending.length) {
      const limit = this.#maxRecordLength + this.#delimiter.length - 1;
      const grown = new Uint8Array(grownCapacity(this.#pending.length, total, limit));
      grown.set(this.#pending.subarray(0, this.#pendingLength), 0);
      this.#pending = grown;
    }
    this.#pending.set(bytes, this.#pendingLength);
    this.#pendingLength = total;
  }

  protected end(): void {
    if (this.#pendingLength > 0) throw new IncompleteFrameError(this.#pendingLength);
  }
}
