// Internal: the buffer of a frame whose bytes span chunks, shared by the length-prefix and
// JSON-header decoders. A header is not a reason to allocate: the buffer holds what has arrived
// and doubles as more arrives, capped at the announced length, as Netty's cumulation buffer does.
// A peer that announces 16 MiB and sends 1 KiB costs 4 KiB, not 16 MiB: 2,000 such peers once
// kept a V8 server in full GCs (external-memory pressure) for seconds, starving every client.

const EMPTY = new Uint8Array(0);

/** The smallest first buffer of a partial frame (unless the whole frame is smaller). */
export const FIRST_CAPACITY = 4 * 1024;

/**
 * How large a partial frame's buffer grows so that `needed` bytes fit: what is needed, or twice the
 * current capacity when that is more, at least `firstCapacity`, never above `limit` (the announced
 * length, which the header reader already checked). So a buffer never exceeds twice the bytes
 * received (or `firstCapacity`), and doubling keeps the copying linear in the frame's length.
 */
export function grownCapacity(
  capacity: number,
  needed: number,
  limit: number,
  firstCapacity: number = FIRST_CAPACITY,
): number {
  return Math.min(limit, Math.max(needed, capacity * 2, firstCapacity));
}

/**
 * One frame being assembled from chunks. With `reuse`, the same buffer assembles frame after
 * frame and each frame is a view of it, valid until the next push (`reuseFrameBuffer`); without,
 * every frame owns a buffer of exactly its length (the last growth stops at the announced length).
 */
export class PartialFrame {
  /** The frame's announced length; -1 between frames. */
  length = -1;
  /** Bytes of the frame received so far. */
  filled = 0;
  #bytes: Uint8Array = EMPTY;
  readonly #reuse: boolean;
  readonly #firstCapacity: number;

  constructor(reuse = false, firstCapacity: number = FIRST_CAPACITY) {
    this.#reuse = reuse;
    this.#firstCapacity = firstCapacity;
  }

  /** Bytes allocated for frames in progress; what a header alone must not inflate. */
  get capacity(): number {
    return this.#bytes.length;
  }

  /** Starts a frame of `length` bytes. Allocates nothing: bytes do, as they arrive. */
  begin(length: number): void {
    this.length = length;
    this.filled = 0;
  }

  /** Copies what the frame still lacks from `chunk[offset..]`; returns the offset after it. */
  fill(chunk: Uint8Array, offset: number): number {
    const take = Math.min(this.length - this.filled, chunk.length - offset);
    const needed = this.filled + take;
    if (needed > this.#bytes.length) {
      // A reused buffer is not capped at one frame's length: the next frame may be larger.
      const limit = this.#reuse ? Math.max(this.length, this.#firstCapacity) : this.length;
      const grown = new Uint8Array(
        grownCapacity(this.#bytes.length, needed, limit, this.#firstCapacity),
      );
      grown.set(this.#bytes.subarray(0, this.filled));
      this.#bytes = grown;
    }
    this.#bytes.set(chunk.subarray(offset, offset + take), this.filled);
    this.filled = needed;
    return offset + take;
  }

  /** Whether every announced byte has arrived. */
  get complete(): boolean {
    return this.filled === this.length;
  }

  /** Hands out the complete frame and ends it; without reuse, its buffer goes with it. */
  take(): Uint8Array {
    const bytes = this.#bytes;
    const frame = bytes.length === this.length ? bytes : bytes.subarray(0, this.length);
    if (!this.#reuse) this.#bytes = EMPTY;
    this.length = -1;
    this.filled = 0;
    return frame;
  }
}
