// Internal: the decoder behind delimiter() and lines(). Records end at a delimiter; the last one may
// end with the stream instead, as TextLineStream's flush, tokio's LinesCodec::decode_eof, Go's
// bufio.ScanLines (atEOF) and Python's readline all return it.

import { FailOnceDecoder } from "./_fail_once.ts";
import { FIRST_CAPACITY, grownCapacity } from "./_partial_frame.ts";
import { FrameTooLargeError, type FrameUnit, IncompleteFrameError } from "./errors.ts";

/** How a {@linkcode DelimitedDecoder} splits and bounds its records. */
export interface DelimitedConfig {
  /** The record end; never empty. */
  readonly delimiter: Uint8Array;
  /** The longest record, in bytes, without the delimiter (and without a dropped `\r`). */
  readonly maxRecordLength: number;
  /** Refuse a last record that the stream ended instead of a delimiter. */
  readonly requireFinalDelimiter: boolean;
  /** lines(): one `\r` right before the end of a record belongs to its line ending. */
  readonly dropCarriageReturn: boolean;
  /** What error messages call a record. */
  readonly unit: FrameUnit;
}

const EMPTY = new Uint8Array(0);
const CR = 0x0d;

/** Finds `needle` in `haystack` at or after `from`; -1 when absent. */
export function indexOfBytes(haystack: Uint8Array, needle: Uint8Array, from: number): number {
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

export class DelimitedDecoder extends FailOnceDecoder<Uint8Array> {
  readonly #config: DelimitedConfig;
  readonly #delimiter: Uint8Array;
  // The most bytes a record may take before its delimiter: one more when a `\r` may be dropped.
  readonly #rawLimit: number;
  // Bytes of an unfinished record (possibly ending in part of a delimiter), from earlier chunks.
  // The buffer grows with what arrives and is let go once a long record is done, so a connection
  // that sent one long line does not keep its buffer while idle.
  #pending = EMPTY;
  #pendingLength = 0;

  constructor(config: DelimitedConfig) {
    super();
    this.#config = config;
    this.#delimiter = config.delimiter;
    this.#rawLimit = config.maxRecordLength + (config.dropCarriageReturn ? 1 : 0);
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
      const end = this.#recordEnd(at - offset, chunk[at - 1]);
      const record = chunk.subarray(offset, offset + end);
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
        const record = pending.slice(0, this.#recordEnd(start, pending[start - 1]));
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
    const end = this.#recordEnd(held + at, at > 0 ? chunk[at - 1] : pending[held - 1]);
    const record = new Uint8Array(end);
    record.set(pending.subarray(0, Math.min(held, end)), 0);
    if (end > held) record.set(chunk.subarray(0, end - held), held);
    this.#released();
    onFrame(record);
    return at + delim.length;
  }

  // The record's length once a dropped `\r` is gone, checked against the limit before any copy.
  #recordEnd(rawLength: number, lastByte: number | undefined): number {
    const length = this.#config.dropCarriageReturn && rawLength > 0 && lastByte === CR
      ? rawLength - 1
      : rawLength;
    if (length > this.#config.maxRecordLength) {
      throw new FrameTooLargeError(
        length,
        this.#config.maxRecordLength,
        "decode",
        this.#config.unit,
      );
    }
    return length;
  }

  // Appends bytes that contain no complete delimiter to the held record, within the limit.
  #hold(bytes: Uint8Array): void {
    if (bytes.length === 0) return;
    const total = this.#pendingLength + bytes.length;
    // The held bytes may end with all but one byte of the delimiter.
    const limit = this.#rawLimit + this.#delimiter.length - 1;
    if (total > limit) {
      throw new FrameTooLargeError(
        total,
        this.#config.maxRecordLength,
        "decode",
        this.#config.unit,
      );
    }
    if (total > this.#pending.length) {
      const grown = new Uint8Array(grownCapacity(this.#pending.length, total, limit));
      grown.set(this.#pending.subarray(0, this.#pendingLength), 0);
      this.#pending = grown;
    }
    this.#pending.set(bytes, this.#pendingLength);
    this.#pendingLength = total;
  }

  // The stream ended: what is held is the last record, which had no delimiter. An empty tail (the
  // stream ended right after a delimiter) is no record at all.
  protected end(onFrame?: (frame: Uint8Array) => void): void {
    const held = this.#pendingLength;
    if (held === 0) return;
    if (this.#config.requireFinalDelimiter || onFrame === undefined) {
      throw new IncompleteFrameError(held, undefined, this.#config.unit);
    }
    const end = this.#recordEnd(held, this.#pending[held - 1]);
    const record = this.#pending.slice(0, end);
    this.#released();
    // lines(): a lone "\r" before the end is an empty line ending, as in tokio's decode_eof.
    if (end === 0 && this.#config.dropCarriageReturn) return;
    onFrame(record);
  }
}
