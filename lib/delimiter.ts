/**
 * The delimiter codec: records separated by `\n`, `\r\n` or any other byte string. For UTF-8
 * text lines, {@linkcode lines} reads better.
 *
 * @module
 */

import { encodeToBytes } from "./_byte_queue.ts";
import { DelimitedDecoder, indexOfBytes } from "./_delimited_decoder.ts";
import type { Decoder, EncodeSink } from "./codec.ts";
import { DelimiterInRecordError, FrameTooLargeError } from "./errors.ts";
import { decoderStream, encoderStream, type WebStreamCodec } from "./web_streams.ts";

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
   * decoder never buffers more than this plus the delimiter's length minus one. It applies to the
   * last record too, when the stream ends without its delimiter.
   */
  maxRecordLength?: number;
  /**
   * Refuse a last record that the stream ended instead of a delimiter, with
   * {@linkcode IncompleteFrameError}: for protocols where an unterminated record means the peer
   * died mid-write (a truncated command must not run). Default `false`: the last record is
   * emitted, as Deno's `TextLineStream`, tokio's `LinesCodec`, Go's `bufio.Scanner` and Python's
   * `readline` do, so `printf 'a\nb' | nc` delivers `b`.
   */
  requireFinalDelimiter?: boolean;
}

/**
 * Creates a delimiter codec. Records exclude the delimiter. An empty record (two delimiters in a
 * row) is a real, empty frame. When the stream ends after a record with no delimiter, that record
 * is emitted (set `requireFinalDelimiter` to refuse it); a stream that ends right after a
 * delimiter has no record after it. Errors call the frames "records".
 *
 * Use it for binary records or a delimiter other than a newline; for UTF-8 text split on `\n` or
 * `\r\n`, {@linkcode lines} gives strings and accepts both line endings at once.
 *
 * @param options The delimiter, the record limit, and whether a final delimiter is required.
 * @returns A codec of `Uint8Array` records.
 *
 * @example CRLF-terminated records
 * ```ts
 * import { decodeAll, delimiter } from "@nianbao/framed";
 *
 * const codec = delimiter({ delimiter: "\r\n" });
 * const records = decodeAll(codec, new TextEncoder().encode("GET\r\n\r\nX\r\n"));
 * const texts = records.map((r) => new TextDecoder().decode(r));
 * if (texts.join("|") !== "GET||X") throw new Error(`unexpected ${texts}`);
 * ```
 *
 * @example The last record without a delimiter: emitted, or refused when strict
 * ```ts
 * import { decodeAll, delimiter, IncompleteFrameError } from "@nianbao/framed";
 *
 * const wire = new TextEncoder().encode("a\nb");
 * const texts = decodeAll(delimiter(), wire).map((r) => new TextDecoder().decode(r));
 * if (texts.join("|") !== "a|b") throw new Error(`unexpected ${texts}`);
 * try {
 *   decodeAll(delimiter({ requireFinalDelimiter: true }), wire);
 *   throw new Error("a strict decoder must refuse the unterminated b");
 * } catch (error) {
 *   if (!(error instanceof IncompleteFrameError) || error.received !== 1) throw error;
 *   if (!error.message.startsWith("stream ended mid-record")) throw new Error(error.message);
 * }
 * ```
 */
export function delimiter(options: DelimiterOptions = {}): WebStreamCodec<Uint8Array> {
  return new DelimiterCodec(options);
}

class DelimiterCodec implements WebStreamCodec<Uint8Array> {
  readonly name: string;
  readonly #delimiter: Uint8Array;
  readonly #maxRecordLength: number;
  readonly #requireFinalDelimiter: boolean;

  constructor(options: DelimiterOptions) {
    const raw = options.delimiter ?? "\n";
    this.#delimiter = typeof raw === "string" ? new TextEncoder().encode(raw) : raw.slice();
    if (this.#delimiter.length === 0) throw new RangeError("the delimiter must not be empty");
    this.#maxRecordLength = options.maxRecordLength ?? DEFAULT_MAX_RECORD_LENGTH;
    if (!(Number.isInteger(this.#maxRecordLength) && this.#maxRecordLength >= 0)) {
      throw new RangeError(`maxRecordLength must be a non-negative integer`);
    }
    this.#requireFinalDelimiter = options.requireFinalDelimiter ?? false;
    this.name = `delimiter(${JSON.stringify(new TextDecoder().decode(this.#delimiter))})`;
  }

  encodeTo(frame: Uint8Array, sink: EncodeSink): void {
    if (frame.length > this.#maxRecordLength) {
      throw new FrameTooLargeError(frame.length, this.#maxRecordLength, "encode", "record");
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
    return new DelimitedDecoder({
      delimiter: this.#delimiter,
      maxRecordLength: this.#maxRecordLength,
      requireFinalDelimiter: this.#requireFinalDelimiter,
      dropCarriageReturn: false,
      unit: "record",
    });
  }

  encoderStream(): TransformStream<Uint8Array, Uint8Array> {
    return encoderStream(this);
  }

  decoderStream(): TransformStream<Uint8Array, Uint8Array> {
    return decoderStream(this);
  }
}
