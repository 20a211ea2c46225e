// Internal: the length-prefix codec for a length field with bytes around it (lengthFieldOffset,
// lengthAdjustment, stripBytes). lengthPrefix() builds it only when one of those options changes
// the layout, so the default codec's hot path has no branch for them.

import { encodeToBytes } from "./_byte_queue.ts";
import { LengthFieldDecoder, type LengthFieldLayout } from "./_length_field_decoder.ts";
import type { Decoder, DecoderOptions, EncodeSink } from "./codec.ts";
import { FrameTooLargeError } from "./errors.ts";
import { FIXED_LENGTH_FORMATS, lengthHeaderSize, writeLength } from "./length_format.ts";
import { decoderStream, encoderStream, type WebStreamCodec } from "./web_streams.ts";

export class LengthFieldCodec implements WebStreamCodec<Uint8Array> {
  readonly name: string;
  readonly #layout: LengthFieldLayout;
  // Fixed field width, or 0 for varint.
  readonly #width: number;
  // Header bytes a frame given to write() carries: the bytes before the field and the field's
  // kept bytes (its content there is a placeholder the encoder overwrites).
  readonly #kept: number;
  // Why frames cannot be encoded with this layout, or null when they can.
  readonly #cannotEncode: string | null;

  constructor(layout: LengthFieldLayout) {
    this.#layout = layout;
    const { format, offset, adjustment, strip } = layout;
    this.#width = format === "varint" ? 0 : FIXED_LENGTH_FORMATS[format].width;
    const headerEnd = offset + this.#width;
    this.#kept = strip === null ? 0 : Math.max(0, headerEnd - strip);
    this.#cannotEncode = strip === null
      ? (offset > 0 ? `the ${offset} bytes before the length field are stripped` : null)
      : strip > headerEnd
      ? `the ${strip - headerEnd} bytes after the length field are stripped`
      : strip > 0 && offset > 0
      ? `the first ${Math.min(strip, offset)} bytes before the length field are stripped`
      : strip === 0 && this.#width === 0
      ? "a varint length field kept in the frame has no fixed width to leave room for"
      : null;
    const parts: string[] = [format];
    if (offset !== 0) parts.push(`offset ${offset}`);
    if (adjustment !== 0) parts.push(`adjustment ${adjustment}`);
    if (strip !== null) parts.push(`strip ${strip}`);
    this.name = `length-prefix(${parts.join(", ")})`;
  }

  // Checks a frame of `length` bytes and returns the field's value.
  #fieldValue(length: number): number {
    if (this.#cannotEncode !== null) {
      throw new TypeError(
        `${this.name} decodes but cannot encode: ${this.#cannotEncode}, so a frame does not ` +
          `hold them; write whole frames with a lengthPrefix() that strips nothing instead`,
      );
    }
    const kept = this.#kept;
    if (length < kept) {
      throw new RangeError(
        `${this.name}: a frame of ${length} bytes is shorter than the ${kept} header bytes it ` +
          `must start with (lengthFieldOffset bytes, then room for the length field)`,
      );
    }
    const after = length - kept;
    const { adjustment, maxFrameLength } = this.#layout;
    if (after > maxFrameLength) throw new FrameTooLargeError(after, maxFrameLength, "encode");
    const value = after - adjustment;
    if (value < 0) {
      throw new RangeError(
        `${this.name}: a frame of ${length} bytes leaves ${after} bytes after the length field, ` +
          `fewer than the lengthAdjustment of ${adjustment} requires`,
      );
    }
    return value;
  }

  encodeTo(frame: Uint8Array, sink: EncodeSink): void {
    const value = this.#fieldValue(frame.length);
    const { format, offset } = this.#layout;
    const kept = this.#kept;
    const fieldSize = this.#width || lengthHeaderSize(format, value);
    const size = offset + fieldSize + frame.length - kept;
    const bytes = sink.reserve(size);
    let at = sink.length;
    // The bytes before the field, the field, then the frame after its kept header bytes.
    bytes.set(frame.subarray(0, offset), at);
    at += offset;
    at += writeLength(format, value, bytes, at);
    bytes.set(frame.subarray(kept), at);
    sink.length = at + frame.length - kept;
  }

  encodeWith(length: number, fill: (body: Uint8Array) => void, sink: EncodeSink): void {
    const value = this.#fieldValue(length);
    const { format, offset } = this.#layout;
    const kept = this.#kept;
    const fieldSize = this.#width || lengthHeaderSize(format, value);
    const before = offset + fieldSize - kept;
    const bytes = sink.reserve(before + length);
    const start = sink.length;
    // The frame is written in place after the stripped header bytes; the field goes in after
    // fill returns, over its placeholder. Nothing is appended until then.
    fill(bytes.subarray(start + before, start + before + length));
    writeLength(format, value, bytes, start + offset);
    sink.length = start + before + length;
  }

  encode(frame: Uint8Array): Uint8Array {
    const value = this.#fieldValue(frame.length);
    const size = this.#layout.offset +
      (this.#width || lengthHeaderSize(this.#layout.format, value)) + frame.length - this.#kept;
    return encodeToBytes((f, sink) => this.encodeTo(f, sink), frame, size);
  }

  createDecoder(options: DecoderOptions = {}): Decoder<Uint8Array> {
    return new LengthFieldDecoder(this.#layout, options.reuseFrameBuffer ?? false);
  }

  encoderStream(): TransformStream<Uint8Array, Uint8Array> {
    return encoderStream(this);
  }

  decoderStream(): TransformStream<Uint8Array, Uint8Array> {
    return decoderStream(this);
  }
}
