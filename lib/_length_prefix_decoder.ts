// Internal: the incremental length-prefix decoder, shared by the length-prefix codec and the
// ack-handshake receiver.

import { INCOMPLETE, LengthHeaderReader } from "./_length_reader.ts";
import { FailOnceDecoder } from "./_fail_once.ts";
import { IncompleteFrameError } from "./errors.ts";
import type { LengthFormat } from "./length_format.ts";

export class LengthPrefixDecoder extends FailOnceDecoder<Uint8Array> {
  readonly #header: LengthHeaderReader;
  // A frame whose body spans chunks is assembled here; it is handed out whole, then dropped.
  #body: Uint8Array | null = null;
  #bodyFilled = 0;

  // Called once per frame as soon as its header is read, before any of its body (the ack
  // handshake answers here).
  readonly #onHeader: ((length: number) => void) | undefined;
  // With reuseFrameBuffer, frames that span chunks are assembled here, one after another.
  readonly #reuse: boolean;
  #scratch = new Uint8Array(0);

  constructor(
    format: LengthFormat,
    maxFrameLength: number,
    options: { onHeader?: (length: number) => void; reuseFrameBuffer?: boolean } = {},
  ) {
    super();
    this.#header = new LengthHeaderReader(format, maxFrameLength);
    this.#onHeader = options.onHeader;
    this.#reuse = options.reuseFrameBuffer ?? false;
  }

  // A buffer for a frame that spans chunks. The limit was checked by the header reader, so the
  // allocation is bounded.
  #bodyBuffer(length: number): Uint8Array {
    if (!this.#reuse) return new Uint8Array(length);
    if (this.#scratch.length < length) this.#scratch = new Uint8Array(Math.max(length, 64 * 1024));
    return this.#scratch.subarray(0, length);
  }

  override get bufferedBytes(): number {
    return this.#header.pending +
      (this.#body === null
        ? 0
        : (this.#header.width || this.#header.headerSize) + this.#bodyFilled);
  }

  protected decode(chunk: Uint8Array, onFrame: (frame: Uint8Array) => void): boolean {
    const end = chunk.length;
    let offset = 0;
    let views = false;
    if (this.#body !== null) {
      const body = this.#body;
      const take = Math.min(body.length - this.#bodyFilled, end);
      body.set(chunk.subarray(0, take), this.#bodyFilled);
      this.#bodyFilled += take;
      offset = take;
      if (this.#bodyFilled < body.length) return false;
      this.#body = null;
      onFrame(body);
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
        const body = this.#bodyBuffer(length);
        body.set(chunk.subarray(offset), 0);
        this.#bodyFilled = end - offset;
        this.#body = body;
        break;
      }
    }
    return views;
  }

  protected end(): void {
    if (this.#body !== null) {
      const headerSize = this.#header.width || this.#header.headerSize;
      throw new IncompleteFrameError(headerSize + this.#bodyFilled, headerSize + this.#body.length);
    }
    if (this.#header.pending > 0) throw new IncompleteFrameError(this.#header.pending);
  }
}
