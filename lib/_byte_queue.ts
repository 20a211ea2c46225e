// Internal: the EncodeSink behind codec.encode() and every connection's cork buffer.

import type { EncodeSink } from "./codec.ts";

const EMPTY = new Uint8Array(0);

/**
 * A list of byte segments to send, in order. Small writes are copied into a chunk that is filled
 * front to back; `take()` hands out the filled part and keeps filling the rest of the same chunk,
 * so a burst of small frames costs one allocation per `chunkSize` bytes, not one per frame.
 */
export class ByteQueue implements EncodeSink {
  bytes: Uint8Array = EMPTY;
  length = 0;
  #segments: Uint8Array[] = [];
  #segmentBytes = 0;
  readonly #chunkSize: number;

  constructor(chunkSize = 64 * 1024) {
    this.#chunkSize = chunkSize;
  }

  /** Bytes queued in total. */
  get byteLength(): number {
    return this.#segmentBytes + this.length;
  }

  reserve(size: number): Uint8Array {
    if (this.bytes.length - this.length < size) {
      this.#seal();
      this.bytes = new Uint8Array(Math.max(size, this.#chunkSize));
    }
    return this.bytes;
  }

  appendBorrowed(segment: Uint8Array): void {
    if (segment.length === 0) return;
    this.#seal();
    this.#segments.push(segment);
    this.#segmentBytes += segment.length;
  }

  /** Removes and returns everything queued, as segments in order. */
  take(): Uint8Array[] {
    this.#seal();
    const segments = this.#segments;
    this.#segments = [];
    this.#segmentBytes = 0;
    return segments;
  }

  /** Removes everything queued and returns it as one buffer (a view when it is one segment). */
  takeBytes(): Uint8Array {
    const segments = this.take();
    if (segments.length === 1) return segments[0]!;
    const out = new Uint8Array(segments.reduce((sum, s) => sum + s.length, 0));
    let at = 0;
    for (const segment of segments) {
      out.set(segment, at);
      at += segment.length;
    }
    return out;
  }

  // Moves the filled part of the current chunk to the segment list and keeps the rest for
  // later writes.
  #seal(): void {
    if (this.length === 0) return;
    this.#segments.push(this.bytes.subarray(0, this.length));
    this.#segmentBytes += this.length;
    this.bytes = this.bytes.subarray(this.length);
    this.length = 0;
  }
}

/** codec.encode() for any codec: encode into a right-sized queue and return one buffer. */
export function encodeToBytes<T>(
  encodeTo: (frame: T, sink: EncodeSink) => void,
  frame: T,
  sizeHint: number,
): Uint8Array {
  const queue = new ByteQueue(sizeHint);
  encodeTo(frame, queue);
  return queue.takeBytes();
}
