/**
 * The JSON custom header codec, the seed's "custom header" done well:
 * `[header length][UTF-8 JSON object][body of header[sizeField] bytes]`.
 *
 * @module
 */

import { encodeToBytes } from "./_byte_queue.ts";
import { FailOnceDecoder } from "./_fail_once.ts";
import { INCOMPLETE, LengthHeaderReader } from "./_length_reader.ts";
import { PartialFrame } from "./_partial_frame.ts";
import type { Decoder, EncodeSink } from "./codec.ts";
import { FrameTooLargeError, IncompleteFrameError, InvalidHeaderError } from "./errors.ts";
import { BORROW_THRESHOLD, DEFAULT_MAX_FRAME_LENGTH } from "./length_prefix.ts";
import { type LengthFormat, lengthHeaderSize, maxLengthOf, writeLength } from "./length_format.ts";
import { decoderStream, encoderStream, type WebStreamCodec } from "./web_streams.ts";

/** A parsed JSON header: always a JSON object. */
export type JsonHeader = Readonly<Record<string, unknown>>;

/** One message of the JSON-header codec. */
export interface JsonHeaderFrame {
  /** The header object. On decoded frames it is frozen; spread it to change it. */
  header: JsonHeader;
  /** The body; its length is the header's size field. */
  body: Uint8Array;
}

/** What a streaming JSON-header decoder emits, in order, for every message. */
export type JsonHeaderEvent =
  | { readonly type: "header"; readonly header: JsonHeader; readonly bodyLength: number }
  | { readonly type: "body"; readonly chunk: Uint8Array }
  | { readonly type: "end" };

/** Options of {@linkcode jsonHeader}. */
export interface JsonHeaderOptions {
  /** How the JSON header's length is written. Default `"u32be"`; the seed's Python uses `"i32le"`. */
  lengthFormat?: LengthFormat;
  /** The header field that holds the body length. Default `"data_size"`, as in the seed. */
  sizeField?: string;
  /** The longest JSON header accepted or sent, in bytes. Default 64 KiB. */
  maxHeaderLength?: number;
  /** The longest body accepted or sent, in bytes. Default 16 MiB; raise it when streaming. */
  maxBodyLength?: number;
  /**
   * Serializes a header object. Default `JSON.stringify`; use {@linkcode pythonJsonDumps} to send
   * the same bytes as Python's `json.dumps`.
   */
  stringify?: (header: JsonHeader) => string;
}

/**
 * The JSON-header codec, with a streaming decoder and a header-only encoder for large bodies, and
 * Web Streams of whole frames (`encoderStream()`, `decoderStream()`).
 */
export interface JsonHeaderCodec extends WebStreamCodec<JsonHeaderFrame> {
  /** Creates a decoder that hands each body over as chunks instead of one buffer. */
  createStreamingDecoder(): Decoder<JsonHeaderEvent>;
  /**
   * Encodes only the length and the JSON header for a body of `bodyLength` bytes that the caller
   * sends itself, for example streamed from a file.
   */
  encodeHeader(header: JsonHeader, bodyLength: number): Uint8Array;
  /**
   * The same wire format as a codec of {@linkcode JsonHeaderEvent}s, for bodies too large to hold:
   * its decoder is `createStreamingDecoder()`, and writing a `header` event, then `body` events,
   * then `end` sends one message whose body is streamed. A `FramedConn` over it gives a streamed
   * body the same backpressure and `for await` as whole frames. Body chunks of 64 KiB or more may
   * be sent by reference: don't change one before `flush()`. Its `decoderStream()` streams a body as
   * `body` events without holding it whole.
   */
  streamingCodec(): WebStreamCodec<JsonHeaderEvent>;
}

/**
 * Creates a JSON-header codec.
 *
 * @param options Length format, size field, limits and serializer.
 * @returns The codec.
 *
 * @example The seed's upload header
 * ```ts
 * import { decodeAll, jsonHeader } from "@nianbao/framed";
 *
 * const codec = jsonHeader({ lengthFormat: "i32le" });
 * const body = new TextEncoder().encode("file contents");
 * const wire = codec.encode({ header: { file_name: "a.txt" }, body });
 * const [frame] = decodeAll(codec, wire);
 * if (JSON.stringify(frame!.header) !== '{"data_size":13,"file_name":"a.txt"}') throw new Error("bad header");
 * if (String(frame!.body) !== String(body)) throw new Error("bad body");
 * ```
 */
export function jsonHeader(options: JsonHeaderOptions = {}): JsonHeaderCodec {
  return new JsonHeaderCodecImpl(options);
}

/**
 * Serializes like Python's `json.dumps` with its defaults: `", "` and `": "` separators and
 * non-ASCII characters escaped as `\uXXXX`. Integers and strings match byte for byte.
 *
 * @param value A JSON value.
 * @returns The JSON text.
 *
 * @example
 * ```ts
 * import { pythonJsonDumps } from "@nianbao/framed";
 *
 * const dumped = pythonJsonDumps({ data_size: 5, name: "é" });
 * if (dumped !== '{"data_size": 5, "name": "\\u00e9"}') throw new Error(dumped);
 * ```
 */
export function pythonJsonDumps(value: unknown): string {
  const escape = (text: string) =>
    JSON.stringify(text).replace(
      /[\u007f-\uffff]/g,
      (c) => `\\u${c.charCodeAt(0).toString(16).padStart(4, "0")}`,
    );
  if (value === null || typeof value !== "object") {
    return typeof value === "string" ? escape(value) : JSON.stringify(value) ?? "null";
  }
  if (Array.isArray(value)) return `[${value.map(pythonJsonDumps).join(", ")}]`;
  const entries = Object.entries(value).filter(([, v]) => v !== undefined);
  return `{${entries.map(([k, v]) => `${escape(k)}: ${pythonJsonDumps(v)}`).join(", ")}}`;
}

// The exact bytes each decoded header arrived as, so echoing a frame sends them back unchanged.
const rawHeaders = new WeakMap<JsonHeader, Uint8Array>();

// ignoreBOM: the text as it arrived, a leading byte-order mark included.
const RAW_TEXT = new TextDecoder("utf-8", { ignoreBOM: true });

/**
 * The JSON text a decoded header arrived as, byte for byte: for logging or printing a header
 * without serializing it again, which would round numbers beyond 2^53 (`12345678901234567891`
 * becomes `12345678901234567000`), write `1.0` as `1`, and change spacing and escapes.
 *
 * @param header A header from a decoded {@linkcode JsonHeaderFrame} (or `header` event).
 * @returns Its text as received, or `undefined` for a header that was not decoded (made in code).
 *
 * @example
 * ```ts
 * import { decodeAll, jsonHeader, rawHeaderText } from "@nianbao/framed";
 *
 * const json = new TextEncoder().encode('{"data_size": 0, "id": 12345678901234567891}');
 * const wire = new Uint8Array([0, 0, 0, json.length, ...json]);
 * const [frame] = decodeAll(jsonHeader(), wire);
 * if (rawHeaderText(frame!.header) !== '{"data_size": 0, "id": 12345678901234567891}') {
 *   throw new Error("not the text that arrived");
 * }
 * if (rawHeaderText({ data_size: 0 }) !== undefined) throw new Error("made in code");
 * ```
 */
export function rawHeaderText(header: JsonHeader): string | undefined {
  const raw = rawHeaders.get(header);
  return raw === undefined ? undefined : RAW_TEXT.decode(raw);
}

// Iterative, with an explicit stack: a peer controls the nesting depth, and a recursive freeze of a
// header nested 30,000 deep overflowed the call stack (RangeError) instead of decoding.
function deepFreeze<T>(value: T): T {
  const pending: unknown[] = [value];
  while (pending.length > 0) {
    const next = pending.pop();
    if (next === null || typeof next !== "object" || Object.isFrozen(next)) continue;
    Object.freeze(next);
    for (const child of Object.values(next)) pending.push(child);
  }
  return value;
}

// Small bodies are copied into the cork buffer; the sink may keep large ones by reference.
function appendBody(body: Uint8Array, sink: EncodeSink): void {
  if (body.length >= BORROW_THRESHOLD) {
    sink.appendBorrowed(body);
  } else {
    sink.reserve(body.length).set(body, sink.length);
    sink.length += body.length;
  }
}

class JsonHeaderCodecImpl implements JsonHeaderCodec {
  readonly name: string;
  readonly #format: LengthFormat;
  readonly #sizeField: string;
  readonly #maxHeaderLength: number;
  readonly #maxBodyLength: number;
  readonly #stringify: (header: JsonHeader) => string;
  readonly #encoder = new TextEncoder();

  constructor(options: JsonHeaderOptions) {
    this.#format = options.lengthFormat ?? "u32be";
    this.#sizeField = options.sizeField ?? "data_size";
    this.#maxHeaderLength = Math.min(
      options.maxHeaderLength ?? 64 * 1024,
      maxLengthOf(this.#format),
    );
    this.#maxBodyLength = options.maxBodyLength ?? DEFAULT_MAX_FRAME_LENGTH;
    this.#stringify = options.stringify ?? JSON.stringify;
    this.name = `json-header(${this.#format}, ${this.#sizeField})`;
  }

  #headerBytes(header: JsonHeader, bodyLength: number): Uint8Array {
    if (bodyLength > this.#maxBodyLength) {
      throw new FrameTooLargeError(bodyLength, this.#maxBodyLength, "encode");
    }
    const declared = header[this.#sizeField];
    if (declared === bodyLength) {
      const raw = rawHeaders.get(header);
      if (raw !== undefined) return raw;
    } else if (declared !== undefined) {
      throw new InvalidHeaderError(
        `header field ${this.#sizeField} is ${
          JSON.stringify(declared)
        } but the body has ${bodyLength} bytes`,
      );
    }
    const full = declared === undefined ? { [this.#sizeField]: bodyLength, ...header } : header;
    const bytes = this.#encoder.encode(this.#stringify(full));
    if (bytes.length > this.#maxHeaderLength) {
      throw new FrameTooLargeError(bytes.length, this.#maxHeaderLength, "encode");
    }
    return bytes;
  }

  encodeHeader(header: JsonHeader, bodyLength: number): Uint8Array {
    const json = this.#headerBytes(header, bodyLength);
    const out = new Uint8Array(lengthHeaderSize(this.#format, json.length) + json.length);
    const at = writeLength(this.#format, json.length, out, 0);
    out.set(json, at);
    return out;
  }

  encodeTo(frame: JsonHeaderFrame, sink: EncodeSink): void {
    this.#encodeHeaderTo(frame.header, frame.body.length, sink);
    appendBody(frame.body, sink);
  }

  #encodeHeaderTo(header: JsonHeader, bodyLength: number, sink: EncodeSink): void {
    const json = this.#headerBytes(header, bodyLength);
    const prefix = lengthHeaderSize(this.#format, json.length);
    const bytes = sink.reserve(prefix + json.length);
    writeLength(this.#format, json.length, bytes, sink.length);
    bytes.set(json, sink.length + prefix);
    sink.length += prefix + json.length;
  }

  encode(frame: JsonHeaderFrame): Uint8Array {
    return encodeToBytes((f, sink) => this.encodeTo(f, sink), frame, 256 + frame.body.length);
  }

  sizeOf(frame: JsonHeaderFrame): number {
    return frame.body.length + 256;
  }

  streamingCodec(): WebStreamCodec<JsonHeaderEvent> {
    const encodeTo = (event: JsonHeaderEvent, sink: EncodeSink): void => {
      if (event.type === "header") this.#encodeHeaderTo(event.header, event.bodyLength, sink);
      else if (event.type === "body") appendBody(event.chunk, sink);
    };
    const codec: WebStreamCodec<JsonHeaderEvent> = {
      name: `${this.name} streaming`,
      encodeTo,
      encode: (event) =>
        encodeToBytes(encodeTo, event, event.type === "body" ? event.chunk.length : 256),
      createDecoder: () => this.createStreamingDecoder(),
      sizeOf: (event) => (event.type === "body" ? event.chunk.length + 64 : 256),
      encoderStream: () => encoderStream(codec),
      decoderStream: () => decoderStream(codec),
    };
    return codec;
  }

  createDecoder(): Decoder<JsonHeaderFrame> {
    return new JsonHeaderDecoder(this, false) as Decoder<JsonHeaderFrame>;
  }

  encoderStream(): TransformStream<JsonHeaderFrame, Uint8Array> {
    return encoderStream(this);
  }

  decoderStream(): TransformStream<Uint8Array, JsonHeaderFrame> {
    return decoderStream(this);
  }

  createStreamingDecoder(): Decoder<JsonHeaderEvent> {
    return new JsonHeaderDecoder(this, true) as Decoder<JsonHeaderEvent>;
  }

  /** @internal Parses and validates one JSON header; returns it with its body length. */
  parseHeader(json: Uint8Array): [JsonHeader, number] {
    let header: unknown;
    try {
      header = JSON.parse(new TextDecoder("utf-8", { fatal: true }).decode(json));
    } catch (cause) {
      // An engine whose JSON.parse recurses runs out of stack on deep nesting: a bad header too.
      const why = cause instanceof RangeError
        ? "is nested too deeply to parse"
        : "is not valid UTF-8 JSON";
      throw new InvalidHeaderError(`the header ${why}`, { cause });
    }
    if (header === null || typeof header !== "object" || Array.isArray(header)) {
      throw new InvalidHeaderError(`the header is not a JSON object`);
    }
    const size = (header as Record<string, unknown>)[this.#sizeField];
    if (size === undefined) {
      throw new InvalidHeaderError(`the header has no ${this.#sizeField} field`);
    }
    if (typeof size !== "number" || !Number.isSafeInteger(size) || size < 0) {
      throw new InvalidHeaderError(
        `header field ${this.#sizeField} must be a non-negative integer, got ${
          JSON.stringify(size)
        }`,
      );
    }
    if (size > this.#maxBodyLength) {
      throw new FrameTooLargeError(size, this.#maxBodyLength, "decode");
    }
    const frozen = deepFreeze(header as JsonHeader);
    rawHeaders.set(frozen, json);
    return [frozen, size];
  }

  /** @internal */
  get headerFormat(): [LengthFormat, number] {
    return [this.#format, this.#maxHeaderLength];
  }
}

const enum Phase {
  Length,
  Header,
  Body,
}

class JsonHeaderDecoder extends FailOnceDecoder<JsonHeaderFrame | JsonHeaderEvent> {
  readonly #codec: JsonHeaderCodecImpl;
  readonly #streaming: boolean;
  readonly #length: LengthHeaderReader;
  #phase = Phase.Length;
  // The header JSON (Phase.Header), then the body (Phase.Body, not streaming) when it spans
  // chunks; its buffer grows as bytes arrive, never to what the length or size field announces.
  readonly #partial = new PartialFrame();
  // Body bytes handed over so far (Phase.Body, streaming).
  #streamed = 0;
  #header: JsonHeader = {};
  #jsonLength = 0;
  #bodyLength = 0;

  constructor(codec: JsonHeaderCodecImpl, streaming: boolean) {
    super();
    this.#codec = codec;
    this.#streaming = streaming;
    const [format, maxHeaderLength] = codec.headerFormat;
    this.#length = new LengthHeaderReader(format, maxHeaderLength);
  }

  override get bufferedBytes(): number {
    if (this.#phase === Phase.Length) return this.#length.pending;
    return this.#partial.length < 0 ? 0 : this.#partial.filled;
  }

  /** @internal Bytes allocated for a header or body in progress: lets tests see that an announcement alone costs little. */
  get reservedBytes(): number {
    return this.#partial.capacity;
  }

  // Body bytes received so far, buffered or streamed.
  get #bodyReceived(): number {
    return this.#streaming ? this.#streamed : Math.max(this.#partial.filled, 0);
  }

  protected decode(
    chunk: Uint8Array,
    emit: (frame: JsonHeaderFrame | JsonHeaderEvent) => void,
  ): boolean {
    const partial = this.#partial;
    let offset = 0;
    let views = false;
    while (
      offset < chunk.length ||
      (this.#phase === Phase.Body && this.#bodyLength === this.#bodyReceived)
    ) {
      if (this.#phase === Phase.Length) {
        const length = this.#length.read(chunk, offset);
        offset += this.#length.consumed;
        if (length === INCOMPLETE) break;
        this.#phase = Phase.Header;
        this.#jsonLength = length;
        partial.begin(length);
      }
      if (this.#phase === Phase.Header) {
        offset = partial.fill(chunk, offset);
        if (!partial.complete) break;
        [this.#header, this.#bodyLength] = this.#codec.parseHeader(partial.take());
        this.#phase = Phase.Body;
        this.#streamed = 0;
        if (this.#streaming) {
          emit({ type: "header", header: this.#header, bodyLength: this.#bodyLength });
        }
        continue;
      }
      // Phase.Body
      const wanted = this.#bodyLength - this.#bodyReceived;
      const available = Math.min(wanted, chunk.length - offset);
      if (this.#streaming) {
        if (available > 0) {
          views = true;
          emit({ type: "body", chunk: chunk.subarray(offset, offset + available) });
        }
        offset += available;
        this.#streamed += available;
        if (this.#streamed < this.#bodyLength) break;
        this.#phase = Phase.Length;
        emit({ type: "end" });
      } else if (partial.length < 0 && available === wanted) {
        // An empty body is its own array, not a view: the Bun adapter detaches a chunk no frame
        // views once `push` returns false, and a view of a detached buffer throws when used.
        views ||= available > 0;
        emit({
          header: this.#header,
          body: available > 0 ? chunk.subarray(offset, offset + available) : new Uint8Array(0),
        });
        offset += available;
        this.#phase = Phase.Length;
      } else {
        if (partial.length < 0) partial.begin(this.#bodyLength);
        offset = partial.fill(chunk, offset);
        if (!partial.complete) break;
        this.#phase = Phase.Length;
        emit({ header: this.#header, body: partial.take() });
      }
    }
    return views;
  }

  protected end(): void {
    const head = this.#length.headerSize + this.#jsonLength;
    switch (this.#phase) {
      case Phase.Length:
        if (this.#length.pending > 0) throw new IncompleteFrameError(this.#length.pending);
        return;
      case Phase.Header:
        throw new IncompleteFrameError(this.#length.headerSize + this.#partial.filled);
      case Phase.Body:
        throw new IncompleteFrameError(head + this.#bodyReceived, head + this.#bodyLength);
    }
  }
}
