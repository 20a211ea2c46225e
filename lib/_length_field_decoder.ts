// Internal: the decoder of a length field with bytes around it (lengthFieldOffset,
// lengthAdjustment, stripBytes), Netty's LengthFieldBasedFrameDecoder model. The default layout
// (the field first, counting the payload, stripped) never comes here: it keeps the fast
// LengthPrefixDecoder, so these options cost the default path nothing.
//
// The two models, as their sources state them (checked in tokio-util's length_delimited.rs,
// decode_head, and Netty's LengthFieldBasedFrameDecoder javadoc and decode):
// - Netty: frame = lengthFieldOffset + field width + value + lengthAdjustment bytes; the first
//   initialBytesToStrip are dropped. maxFrameLength counts that whole frame.
// - tokio: after the header, num_skip bytes from the frame's start are dropped, then exactly
//   value + length_adjustment bytes are the frame; max_frame_length is checked on the value before
//   the adjustment. Its docs' examples with num_skip(0) were wrong until tokio PR #6638 (issue
//   #6604): the adjustment must then count the header, so tokio's adjustment is framed's
//   + (field end - num_skip).
// framed takes Netty's meaning and checks maxFrameLength on the bytes after the field.

import { FailOnceDecoder } from "./_fail_once.ts";
import { INCOMPLETE, LengthHeaderReader } from "./_length_reader.ts";
import { PartialFrame } from "./_partial_frame.ts";
import { FrameTooLargeError, IncompleteFrameError, InvalidLengthError } from "./errors.ts";
import { type LengthFormat, MAX_VARINT_BYTES, maxLengthOf } from "./length_format.ts";

/** A checked length-field layout, shared by the codec and its decoders. */
export interface LengthFieldLayout {
  readonly format: LengthFormat;
  /** Bytes before the length field. */
  readonly offset: number;
  /** Added to the field's value to give the number of bytes after the field. */
  readonly adjustment: number;
  /** Bytes removed from the start of each frame; `null`: the whole header, however long. */
  readonly strip: number | null;
  /** The largest number of bytes after the length field. */
  readonly maxFrameLength: number;
}

const PREFIX = 0;
const FIELD = 1;
const SKIP = 2;
const BODY = 3;

export class LengthFieldDecoder extends FailOnceDecoder<Uint8Array> {
  readonly #layout: LengthFieldLayout;
  readonly #header: LengthHeaderReader;
  // The header (bytes before the field, then the field) of a frame whose header spans chunks.
  readonly #head: Uint8Array;
  #headFilled = 0;
  #stage = PREFIX;
  // Body bytes still to drop, when stripBytes reaches past the header.
  #skip = 0;
  // Wire bytes of the frame in progress, for IncompleteFrameError.
  #wireLength = 0;
  readonly #body: PartialFrame;

  constructor(layout: LengthFieldLayout, reuseFrameBuffer: boolean) {
    super();
    this.#layout = layout;
    // The reader checks the raw value, before anything is buffered: value + adjustment must not
    // exceed maxFrameLength (and the value must fit the format, as it always must).
    this.#header = new LengthHeaderReader(
      layout.format,
      Math.min(layout.maxFrameLength - layout.adjustment, maxLengthOf(layout.format)),
    );
    this.#head = new Uint8Array(layout.offset + (this.#header.width || MAX_VARINT_BYTES));
    this.#body = new PartialFrame(reuseFrameBuffer);
  }

  override get bufferedBytes(): number {
    if (this.#stage === PREFIX || this.#stage === FIELD) return this.#headFilled;
    return this.#wireLength - this.#skip - (this.#body.length - this.#body.filled);
  }

  protected decode(chunk: Uint8Array, onFrame: (frame: Uint8Array) => void): boolean {
    const end = chunk.length;
    const { offset } = this.#layout;
    const width = this.#header.width;
    let at = 0;
    let views = false;
    while (true) {
      if (this.#stage === PREFIX) {
        // A frame whose header lies whole in the chunk is read in place; views of it need no copy.
        if (this.#headFilled === 0 && width > 0 && end - at >= offset + width) {
          const value = this.#read(chunk, at + offset);
          const whole = this.#start(value, offset + width);
          if (at + whole <= end) {
            const strip = this.#layout.strip ?? offset + width;
            onFrame(chunk.subarray(at + strip, at + whole));
            views = true;
            this.#reset();
            at += whole;
            continue;
          }
          this.#keepHeader(chunk.subarray(at, at + offset + width));
          at += offset + width;
        } else {
          if (at >= end) break;
          const take = Math.min(offset - this.#headFilled, end - at);
          this.#head.set(chunk.subarray(at, at + take), this.#headFilled);
          this.#headFilled += take;
          at += take;
          if (this.#headFilled < offset) break;
          this.#stage = FIELD;
        }
      }
      if (this.#stage === FIELD) {
        if (at >= end) break;
        const value = this.#read(chunk, at);
        const used = this.#header.consumed;
        this.#head.set(chunk.subarray(at, at + used), this.#headFilled);
        this.#headFilled += used;
        at += used;
        if (value === INCOMPLETE) break;
        this.#start(value, this.#headFilled);
        this.#keepHeader(this.#head.subarray(0, this.#headFilled));
      }
      if (this.#stage === SKIP) {
        const take = Math.min(this.#skip, end - at);
        this.#skip -= take;
        at += take;
        if (this.#skip > 0) break;
        this.#stage = BODY;
      }
      // BODY
      at = this.#body.fill(chunk, at);
      if (!this.#body.complete) break;
      onFrame(this.#body.take());
      this.#reset();
    }
    return views;
  }

  // Reads the field at chunk[at] (continuing one held from earlier chunks): INCOMPLETE, or the
  // raw value, already checked against the limit with the adjustment taken into account.
  #read(chunk: Uint8Array, at: number): number {
    try {
      return this.#header.read(chunk, at);
    } catch (error) {
      if (!(error instanceof FrameTooLargeError)) throw error;
      // Report what the limit is about: the bytes after the length field.
      const { adjustment, maxFrameLength } = this.#layout;
      throw new FrameTooLargeError(error.length + adjustment, maxFrameLength, "decode");
    }
  }

  // A header is complete: checks the frame it announces and prepares its body. Returns the
  // frame's size on the wire.
  #start(value: number, headerLength: number): number {
    const { adjustment, strip } = this.#layout;
    const after = value + adjustment;
    if (after < 0) throw new InvalidLengthError("negative-after-adjustment", after);
    const whole = headerLength + after;
    const stripped = strip ?? headerLength;
    if (stripped > whole) throw new InvalidLengthError("shorter-than-strip", whole);
    this.#wireLength = whole;
    this.#skip = Math.max(0, stripped - headerLength);
    this.#body.begin(whole - stripped);
    this.#stage = this.#skip > 0 ? SKIP : BODY;
    return whole;
  }

  // The header bytes the frame keeps (those at or after stripBytes) go first into its buffer.
  #keepHeader(header: Uint8Array): void {
    const strip = this.#layout.strip ?? header.length;
    if (strip < header.length) this.#body.fill(header, strip);
  }

  #reset(): void {
    this.#stage = PREFIX;
    this.#headFilled = 0;
    this.#wireLength = 0;
  }

  protected end(): void {
    if (this.#stage === PREFIX || this.#stage === FIELD) {
      if (this.#headFilled > 0) throw new IncompleteFrameError(this.#headFilled);
      return;
    }
    throw new IncompleteFrameError(this.bufferedBytes, this.#wireLength);
  }
}
