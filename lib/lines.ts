/**
 * The lines codec: UTF-8 text lines ended by `\n` or `\r\n`, as strings.
 *
 * @module
 */

import { encodeToBytes } from "./_byte_queue.ts";
import { DelimitedDecoder } from "./_delimited_decoder.ts";
import type { Decoder, EncodeSink } from "./codec.ts";
import { DEFAULT_MAX_RECORD_LENGTH } from "./delimiter.ts";
import { DelimiterInRecordError, FrameTooLargeError, InvalidUtf8Error } from "./errors.ts";
import { decoderStream, encoderStream, type WebStreamCodec } from "./web_streams.ts";

/** Options of {@linkcode lines}. */
export interface LinesOptions {
  /**
   * The longest line accepted or sent, in bytes of UTF-8, without its line ending. Default 64 KiB
   * ({@linkcode DEFAULT_MAX_RECORD_LENGTH}). It applies to the last line too, when the stream ends
   * without a newline.
   */
  maxLineLength?: number;
  /**
   * What encoding appends to each line: `"\n"` (default) or `"\r\n"` for protocols that want
   * CRLF (SMTP, HTTP/1 headers, Redis). Decoding accepts both either way.
   */
  newline?: "\n" | "\r\n";
  /**
   * Refuse a last line that the stream ended instead of a newline, with
   * {@linkcode IncompleteFrameError}. Default `false`: the last line is emitted, as Deno's
   * `TextLineStream`, tokio's `LinesCodec`, Go's `bufio.Scanner` and Python's `readline` do.
   */
  requireFinalNewline?: boolean;
}

/**
 * Creates a codec of UTF-8 text lines. Decoding splits on `\n` and drops one `\r` right before it,
 * so `\n` and `\r\n` endings may even be mixed; a lone `\r` elsewhere is text. The line ending is
 * never part of a line. The last line is emitted even without a newline (a lone `\r` left at the
 * end is an empty ending, not a line), unless `requireFinalNewline` is set. Text is decoded
 * strictly: bytes that are not UTF-8 fail with {@linkcode InvalidUtf8Error}, and a byte order mark
 * is kept as text. A character split across reads is never a problem: lines are decoded whole.
 *
 * Encoding appends `newline` and refuses a line that holds `\n` or ends with `\r` (it would read
 * back as something else) with {@linkcode DelimiterInRecordError}.
 *
 * Use `lines()` for text protocols and logs: it gives strings and reads both line endings. Use
 * {@linkcode delimiter} for bytes that need not be UTF-8, for any other delimiter, or when `\r\n`
 * must be told apart from `\n`.
 *
 * On any byte stream (a file, a `fetch` body, a Deno connection's `readable`), `lines().decoderStream()`
 * does what `TextDecoderStream` piped into `TextLineStream` does, with a line limit and strict
 * UTF-8.
 *
 * @param options The line limit, the newline to write, and whether a final newline is required.
 * @returns A codec of `string` lines, with `encoderStream()` and `decoderStream()`.
 *
 * @example Mixed line endings, and a last line without one
 * ```ts
 * import { decodeAll, lines } from "@nianbao/framed";
 *
 * const got = decodeAll(lines(), new TextEncoder().encode("HELO\r\nnaïve\n\nlast"));
 * if (got.join("|") !== "HELO|naïve||last") throw new Error(`unexpected ${got}`);
 * ```
 *
 * @example Lines of any byte stream, a character cut between two chunks
 * ```ts
 * import { lines } from "@nianbao/framed";
 *
 * const bytes = new TextEncoder().encode("naïve\r\nlast");
 * const chunks = ReadableStream.from([bytes.subarray(0, 3), bytes.subarray(3)]);
 * const got = await Array.fromAsync(chunks.pipeThrough(lines().decoderStream()));
 * if (got.join("|") !== "naïve|last") throw new Error(`unexpected ${got}`);
 * ```
 *
 * @example A line-based echo over a connection
 * ```ts
 * import { FramedConn, lines, memoryStreamPair } from "@nianbao/framed";
 *
 * const [a, b] = memoryStreamPair();
 * const client = new FramedConn(a, lines());
 * const server = new FramedConn(b, lines({ newline: "\r\n" }));
 * client.write("ping");
 * const line = await server.readFrame();
 * server.write(line!.toUpperCase());
 * if (await client.readFrame() !== "PING") throw new Error("no echo");
 * await Promise.all([client.close(), server.close()]);
 * ```
 */
export function lines(options: LinesOptions = {}): WebStreamCodec<string> {
  return new LinesCodec(options);
}

const LF = 0x0a;
const CR = 0x0d;

class LinesCodec implements WebStreamCodec<string> {
  readonly name: string;
  readonly #maxLineLength: number;
  readonly #newline: Uint8Array;
  readonly #requireFinalNewline: boolean;
  readonly #encoder = new TextEncoder();

  constructor(options: LinesOptions) {
    this.#maxLineLength = options.maxLineLength ?? DEFAULT_MAX_RECORD_LENGTH;
    if (!(Number.isInteger(this.#maxLineLength) && this.#maxLineLength >= 0)) {
      throw new RangeError(`maxLineLength must be a non-negative integer`);
    }
    const newline = options.newline ?? "\n";
    if (newline !== "\n" && newline !== "\r\n") {
      throw new RangeError(`newline must be "\\n" or "\\r\\n"`);
    }
    this.#newline = this.#encoder.encode(newline);
    this.#requireFinalNewline = options.requireFinalNewline ?? false;
    this.name = newline === "\n" ? "lines" : `lines(${JSON.stringify(newline)})`;
  }

  encodeTo(line: string, sink: EncodeSink): void {
    // UTF-8 takes at least one byte per UTF-16 code unit and at most three: room for the longest
    // allowed line, or the whole line when it is surely shorter, without encoding it twice.
    const room = Math.min(line.length * 3, this.#maxLineLength);
    const bytes = sink.reserve(room + this.#newline.length);
    const start = sink.length;
    const { read, written } = this.#encoder.encodeInto(line, bytes.subarray(start, start + room));
    if (read < line.length) {
      const length = this.#encoder.encode(line).length;
      throw new FrameTooLargeError(length, this.#maxLineLength, "encode", "line");
    }
    const text = bytes.subarray(start, start + written);
    const lf = text.indexOf(LF);
    if (lf !== -1) throw new DelimiterInRecordError(lf, "line");
    if (written > 0 && text[written - 1] === CR) {
      throw new DelimiterInRecordError(written - 1, "line");
    }
    bytes.set(this.#newline, start + written);
    sink.length = start + written + this.#newline.length;
  }

  encode(line: string): Uint8Array {
    return encodeToBytes(
      (l, sink) => this.encodeTo(l, sink),
      line,
      Math.min(line.length * 3, this.#maxLineLength) + this.#newline.length,
    );
  }

  createDecoder(): Decoder<string> {
    return new LinesDecoder(
      new DelimitedDecoder({
        delimiter: new Uint8Array([LF]),
        maxRecordLength: this.#maxLineLength,
        requireFinalDelimiter: this.#requireFinalNewline,
        dropCarriageReturn: true,
        unit: "line",
      }),
    );
  }

  encoderStream(): TransformStream<string, Uint8Array> {
    return encoderStream(this);
  }

  decoderStream(): TransformStream<Uint8Array, string> {
    return decoderStream(this);
  }

  /** A queued line costs its UTF-16 size plus the same 64 bytes of overhead as a byte frame. */
  sizeOf(line: string): number {
    return 64 + 2 * line.length;
  }
}

// Strict, and keeping a byte order mark: a line's text is exactly what the peer sent.
const utf8 = new TextDecoder("utf-8", { fatal: true, ignoreBOM: true });

function decodeLine(bytes: Uint8Array): string {
  try {
    return utf8.decode(bytes);
  } catch (error) {
    throw new InvalidUtf8Error(bytes.length, { cause: error });
  }
}

class LinesDecoder implements Decoder<string> {
  readonly #bytes: DelimitedDecoder;

  constructor(bytes: DelimitedDecoder) {
    this.#bytes = bytes;
  }

  get bufferedBytes(): number {
    return this.#bytes.bufferedBytes;
  }

  /** @internal Bytes allocated for an unfinished line: lets tests see what an idle decoder keeps. */
  get reservedBytes(): number {
    return this.#bytes.reservedBytes;
  }

  // A string never aliases the chunk, so no line is a view into it.
  push(chunk: Uint8Array, onFrame: (line: string) => void): boolean {
    this.#bytes.push(chunk, (record) => onFrame(decodeLine(record)));
    return false;
  }

  finish(onFrame?: (line: string) => void): void {
    this.#bytes.finish(onFrame && ((record) => onFrame(decodeLine(record))));
  }
}
