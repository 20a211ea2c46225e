/**
 * Codecs as Web Streams: `encoderStream(codec)` turns frames into bytes and
 * `decoderStream(codec)` bytes into frames, so a codec frames anything that is a stream of bytes:
 * a file, a `fetch` body, a Deno connection's `readable`, a WebSocketStream, a child process's stdout.
 * Every built-in codec also has them as methods (`lengthPrefix().decoderStream()`).
 *
 * @module
 */

import type { Codec, DecoderSource } from "./codec.ts";

/**
 * A codec that also makes Web Streams: what `lengthPrefix()`, `delimiter()`, `jsonHeader()` and
 * its `streamingCodec()` return.
 *
 * A separate interface rather than two more members of {@linkcode Codec}: required members
 * would break every codec users wrote, and optional ones would make callers of the built-ins
 * write `codec.decoderStream?.()`. {@linkcode encoderStream} and {@linkcode decoderStream} take
 * any codec, so a user codec gets the same streams without implementing anything.
 *
 * @example Framing a byte stream with a codec's own methods
 * ```ts
 * import { lengthPrefix, type WebStreamCodec } from "@nianbao/framed";
 *
 * const codec: WebStreamCodec<Uint8Array> = lengthPrefix({ lengthFormat: "u8" });
 * const frames = ReadableStream.from([new Uint8Array([2, 104]), new Uint8Array([105, 0])])
 *   .pipeThrough(codec.decoderStream());
 * const texts = (await Array.fromAsync(frames)).map((f) => new TextDecoder().decode(f));
 * if (texts.join("|") !== "hi|") throw new Error(`got ${texts}`);
 * ```
 */
export interface WebStreamCodec<T> extends Codec<T> {
  /** A stream that encodes each frame written to it; see {@linkcode encoderStream}. */
  encoderStream(): TransformStream<T, Uint8Array>;
  /** A stream that decodes the bytes written to it into frames; see {@linkcode decoderStream}. */
  decoderStream(): TransformStream<Uint8Array, T>;
}

/**
 * Creates a stream that encodes every frame written to it into one chunk of bytes. The chunks
 * are new buffers: a frame may be changed once its `write()` resolved. Frames that encode to no
 * bytes (the `end` event of a streaming JSON-header codec) produce no chunk.
 *
 * @param codec The codec to encode with.
 * @returns A `TransformStream` of frames in, bytes out. A frame the codec refuses (over its
 * limit, say) errors the stream.
 *
 * @example Length-prefixing frames into one byte stream
 * ```ts
 * import { encoderStream, lengthPrefix } from "@nianbao/framed";
 *
 * const text = new TextEncoder();
 * const bytes = ReadableStream.from([text.encode("hi"), text.encode("!")])
 *   .pipeThrough(encoderStream(lengthPrefix({ lengthFormat: "u8" })));
 * const chunks = await Array.fromAsync(bytes);
 * if (chunks.map(String).join("|") !== "2,104,105|1,33") throw new Error(`got ${chunks}`);
 * ```
 */
export function encoderStream<T>(codec: Codec<T>): TransformStream<T, Uint8Array> {
  return new TransformStream<T, Uint8Array>({
    transform(frame, controller) {
      // encode() returns a buffer of its own (a large body is copied into it, not borrowed).
      const bytes = codec.encode(frame);
      if (bytes.length > 0) controller.enqueue(bytes);
    },
  });
}

/**
 * Creates a stream that decodes the bytes written to it into frames, whatever the chunks' sizes:
 * a frame may span many chunks, and a chunk may hold many frames.
 *
 * Frames are yours to keep. A frame that lies inside one written chunk is not a view of that
 * chunk (whose writer may reuse it once `write()` resolved, as a loop reading a file into one
 * buffer does): the frames of a chunk that views it are moved into one copy of the bytes they
 * span, made only for such chunks. Frames that span chunks are already assembled in buffers of
 * their own and are not copied again. This covers frames that are bytes or plain objects holding
 * bytes (`{ header, body }`, `{ type, chunk }`); a decoder source whose frames view their input in
 * another shape must copy them itself.
 *
 * Backpressure is the `TransformStream`'s own: the next chunk is decoded once the frames of the
 * last one are read. At the end of the input the decoder is finished: a stream cut in the middle
 * of a frame errors with {@linkcode IncompleteFrameError}, and so does any decode error.
 *
 * @param source The codec (or any decoder source) to decode with; a fresh decoder is made.
 * @returns A `TransformStream` of bytes in, frames out.
 * @throws {TypeError} From the stream, when something other than a `Uint8Array` is written.
 *
 * @example Lines of a byte stream cut anywhere
 * ```ts
 * import { decoderStream, delimiter } from "@nianbao/framed";
 *
 * const text = new TextEncoder();
 * const records = ReadableStream.from([text.encode("GET /\nHo"), text.encode("st: x\n")])
 *   .pipeThrough(decoderStream(delimiter()));
 * const lines = (await Array.fromAsync(records)).map((r) => new TextDecoder().decode(r));
 * if (lines.join("|") !== "GET /|Host: x") throw new Error(`got ${lines}`);
 * ```
 *
 * @example A cut frame errors the stream
 * ```ts
 * import { decoderStream, IncompleteFrameError, lengthPrefix } from "@nianbao/framed";
 *
 * const frames = ReadableStream.from([new Uint8Array([0, 0, 0, 9, 1, 2])])
 *   .pipeThrough(decoderStream(lengthPrefix()));
 * try {
 *   await Array.fromAsync(frames);
 *   throw new Error("the cut frame was not reported");
 * } catch (error) {
 *   if (!(error instanceof IncompleteFrameError)) throw error;
 * }
 * ```
 */
export function decoderStream<T>(source: DecoderSource<T>): TransformStream<Uint8Array, T> {
  // Frames assembled across chunks get a fresh buffer each (no reuseFrameBuffer): a stream's
  // reader keeps what it read.
  const decoder = source.createDecoder();
  return new TransformStream<Uint8Array, T>({
    transform(chunk, controller) {
      if (!(chunk instanceof Uint8Array)) {
        throw new TypeError(`decoderStream() takes Uint8Array chunks, got ${describe(chunk)}`);
      }
      const frames: T[] = [];
      if (decoder.push(chunk, (frame) => frames.push(frame))) ownViews(frames, chunk);
      for (const frame of frames) controller.enqueue(frame);
    },
    flush(controller) {
      decoder.finish((frame) => controller.enqueue(frame));
    },
  });
}

function describe(value: unknown): string {
  return value === null
    ? "null"
    : typeof value === "object"
    ? (value.constructor?.name ?? "an object")
    : typeof value;
}

// ── Owning the frames that view a chunk ──────────────────────────────────────────────────────

// The byte arrays a frame holds: itself, or the top-level fields of a plain object.
function forEachBytes(frame: unknown, visit: (bytes: Uint8Array) => void): void {
  if (frame instanceof Uint8Array) {
    visit(frame);
  } else if (isPlainObject(frame)) {
    for (const value of Object.values(frame)) if (value instanceof Uint8Array) visit(value);
  }
}

function mapBytes<T>(frame: T, map: (bytes: Uint8Array) => Uint8Array): T {
  if (frame instanceof Uint8Array) return map(frame) as T;
  if (!isPlainObject(frame)) return frame;
  let copy: Record<string, unknown> | null = null;
  for (const [key, value] of Object.entries(frame)) {
    if (!(value instanceof Uint8Array)) continue;
    const mapped = map(value);
    if (mapped !== value) (copy ??= { ...frame })[key] = mapped;
  }
  return (copy ?? frame) as T;
}

function isPlainObject(value: unknown): value is Record<string, unknown> {
  if (value === null || typeof value !== "object") return false;
  const prototype = Object.getPrototypeOf(value);
  return prototype === Object.prototype || prototype === null;
}

// Moves every frame that views `chunk` into one copy of the span those views cover: one
// allocation per chunk rather than one per frame, and a kept frame holds that span, not the whole
// chunk.
function ownViews<T>(frames: T[], chunk: Uint8Array): void {
  const begin = chunk.byteOffset;
  const end = begin + chunk.byteLength;
  const inChunk = (bytes: Uint8Array) =>
    bytes.buffer === chunk.buffer && bytes.byteOffset >= begin &&
    bytes.byteOffset + bytes.byteLength <= end;
  let first = end;
  let last = begin;
  let found = false;
  for (const frame of frames) {
    forEachBytes(frame, (bytes) => {
      if (!inChunk(bytes)) return;
      found = true;
      first = Math.min(first, bytes.byteOffset);
      last = Math.max(last, bytes.byteOffset + bytes.byteLength);
    });
  }
  if (!found) return;
  // Empty views are re-pointed too, so that no frame keeps the chunk alive.
  const span = chunk.slice(first - begin, last - begin);
  for (let i = 0; i < frames.length; i++) {
    frames[i] = mapBytes(frames[i]!, (bytes) => {
      if (!inChunk(bytes)) return bytes;
      const at = bytes.byteOffset - first;
      return span.subarray(at, at + bytes.byteLength);
    });
  }
}
