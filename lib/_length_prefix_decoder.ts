// Internal: the incremental length-prefix decoder, shared by the length-prefix codec and the
// ack-handshake receiver.

import { INCOMPLETE, LengthHeaderReader } from "./_length_reader.ts";
import { FailOnceDecoder } from "./_fail_once.ts";
import { PartialFrame } from "./_partial_frame.ts";
import { IncompleteFrameError } from "./errors.ts";
import type { LengthFormat } from "./length_format.ts";

export class LengthPrefixDecoder extends FailOnceDecoder<Uint8Array> {
  readonly #header: LengthHeaderReader;
  // A frame whose body spans chunks is assembled here, in a buffer that grows as its bytes arrive.
  // With reuseFrameBuffer the buffer is kept from frame to frame and frames are views of it.
  readonly #body: PartialFrame;

  // Called once per frame as soon as its header is read, before any of its body (the ack
  // handshake answers here).
  readonly #onHeader: ((length: number) => void) | undefined;

  constructor(
    format: LengthFormat,
    maxFrameLength: number,
    options: { onHeader?: (length: number) => void; reuseFrameBuffer?: boolean } = {},
  ) {
    super();
    this.#header = new LengthHeaderReader(format, maxFrameLength);
    this.#onHeader = options.onHeader;
    this.#body = new PartialFrame(options.reuseFrameBuffer ?? false);
  }

  override get bufferedBytes(): number {
    return this.#header.pending +
      (this.#body.length < 0
        ? 0
        : (this.#header.width || this.#header.headerSize) + this.#body.filled);
  }

  /** @internal Bytes allocated for a frame in progress: lets tests see that a header alone costs little. */
  get reservedBytes(): number {
    return this.#body.capacity;
  }

  protected decode(chunk: Uint8Array, onFrame: (frame: Uint8Array) => void): boolean {
    const end = chunk.length;
    let offset = 0;
    let views = false;
    const body = this.#body;
    if (body.length >= 0) {
      offset = body.fill(chunk, 0);
      if (!body.complete) return false;
      onFrame(body.take());
    }
    const header = this.#header;
    const fast = header.fast;
    const width = header.width;
    while (offset < end) {
      let length: number;
      if (fast !== null && end - offset >= width && header.pending === 0) {
        length = fast(chunk, offset);
        offset += width;
      } else {
        length = header.read(chunk, offset);
        offset += header.consumed;
        if (length === INCOMPLETE) break;
      }
      this.#onHeader?.(length);
      const stop = offset + length;
      if (stop <= end) {
        const frame = chunk.subarray(offset, stop);
        offset = stop;
        views = true;
        onFrame(frame);
      } else {
        body.begin(length);
        body.fill(chunk, offset);
        break;
      }
    }
    return views;
  }

  protected end(): void {
    if (this.#body.length >= 0) {
      const headerSize = this.#header.width || this.#header.headerSize;
      throw new IncompleteFrameError(
        headerSize + this.#body.filled,
        headerSize + this.#body.length,
      );
    }
    if (this.#header.pending > 0) throw new IncompleteFrameError(this.#header.pending);
  }
}
