// Internal: the EncodeSink behind codec.encode() and every connection's cork buffer.

import type { EncodeSink } from "./codec.ts";

const EMPTY = new Uint8Array(0);

const MIN_CHUNK = 1024;
const MAX_CHUNK = 1024 * 1024;
const MAX_FINALS = 4;
const MAX_SPARES = 2;

/**
 * A body appended by reference smaller than this is copied into the chunk instead, unless the
 * queue is vectored: one contiguous write of up to 1 MiB beats a write per body where each write
 * is a system call (Deno, Bun). A vectored queue (its stream takes many buffers in one writev
 * call) keeps every borrowed body by reference.
 */
const COPY_BELOW = MAX_CHUNK;

/**
 * In a vectored queue, a reservation at least this large that does not fit starts a new chunk
 * instead of growing the current one by copying what it holds: writev sends the pieces in one
 * call anyway. (Elsewhere a burst must stay one contiguous write: measured, sealing instead made
 * 64 KiB streams on Deno and Bun half as fast, a write per frame.)
 */
const LARGE_RESERVATION = 16 * 1024;

/**
 * A list of byte segments to send, in order. Small writes are copied into a chunk that is filled
 * front to back; `take()` hands out the filled part and keeps filling the rest of the same chunk,
 * so a burst of small frames costs one allocation per chunk, not one per frame.
 *
 * Chunks start at 1 KiB and double within a burst up to 1 MiB, so that one flush stays one socket
 * write: every write costs a syscall and (in Deno) an async op, and measured here 64 KiB writes
 * move under half the bytes per second of 1 MiB writes, while copying 1 MiB costs far less than
 * the writes it saves.
 *
 * Memory: nothing is allocated before the first write. Written chunks are reused (a fresh one per
 * flush costs 5 µs for 4 KiB and 25 µs for 64 KiB in Deno, zeroing and page faults: more than the
 * write), up to two: held strongly while more bytes wait behind them, then only through `WeakRef`s
 * once everything is sent. A connection that writes again soon finds its chunks there; an idle one
 * gives them back at the next garbage collection. (Holding a 16 KiB chunk strongly was most of
 * what framed added to each idle connection.)
 */
export class ByteQueue implements EncodeSink {
  bytes: Uint8Array = EMPTY;
  length = 0;
  #segments: Uint8Array[] = [];
  #segmentBytes = 0;
  #nextChunk: number;
  readonly #minChunk: number;
  // The chunk being filled (`bytes` is its unfilled rest), and the last segment sealed from it:
  // segments of one chunk are written in order, so the chunk is free once that one is written
  // (not when its first one is).
  #chunk: Uint8Array | null = null;
  #chunkTail: Uint8Array | null = null;
  // Chunks handed out by take(), oldest first, as [last segment, chunk] pairs laid flat:
  // recycle() reuses a chunk only when its last segment comes back.
  #finals: Uint8Array[] = [];
  // Written chunks kept for reuse, up to two: strongly while more bytes wait behind them, weakly
  // once everything is sent.
  #spares: Uint8Array[] = [];
  #quietSpares: WeakRef<Uint8Array>[] = [];
  // Bytes handed out by take() and not yet recycled: the pump is still busy with them.
  #unsent = 0;
  // Segments appended by reference (the caller's memory) and not yet recycled.
  #borrowed = 0;
  #borrowedSegments = new WeakSet<Uint8Array>();

  /**
   * Whether borrowed bodies of any size stay by reference: set when the stream writes many
   * buffers in one call (writev), so that nothing is copied.
   */
  vectored = false;

  /** @param minChunk The first chunk's size; later chunks of a burst double up to 1 MiB. */
  constructor(minChunk = MIN_CHUNK) {
    this.#minChunk = this.#nextChunk = minChunk;
  }

  /** Whether caller memory appended by reference is queued or being written. */
  get borrowing(): boolean {
    return this.#borrowed > 0;
  }

  /** Bytes queued in total. */
  get byteLength(): number {
    return this.#segmentBytes + this.length;
  }

  reserve(size: number): Uint8Array {
    const needed = this.length + size;
    if (this.bytes.length >= needed) return this.bytes;
    let chunk: Uint8Array;
    if (
      this.length > 0 && needed <= MAX_CHUNK && (size < LARGE_RESERVATION || !this.vectored)
    ) {
      // Grow (copying what is there) so that one flush stays one contiguous write.
      chunk = this.#newChunk(Math.max(needed, this.bytes.length * 2));
      chunk.set(this.bytes.subarray(0, this.length));
    } else {
      this.#seal();
      chunk = this.#newChunk(size);
    }
    this.#leaveChunk();
    this.#chunk = this.bytes = chunk;
    return chunk;
  }

  // A chunk of at least `size` bytes: a spare when one is large enough, else a new one sized for
  // the burst so far.
  #newChunk(size: number): Uint8Array {
    const spares = this.#spares;
    for (let i = 0; i < spares.length; i++) {
      if (spares[i]!.length >= size) return spares.splice(i, 1)[0]!;
    }
    const quiet = this.#quietSpares;
    for (let i = 0; i < quiet.length; i++) {
      const spare = quiet[i]!.deref();
      if (spare !== undefined && spare.length < size) continue;
      quiet.splice(i--, 1); // collected, or taken
      if (spare !== undefined) return spare;
    }
    // A reservation over 1 MiB (one large frame written in place) gets a chunk of its own size.
    const chunk = new Uint8Array(Math.max(size, Math.min(MAX_CHUNK, this.#nextChunk)));
    // Large frames come in bursts too: the next chunk holds at least two of them.
    this.#nextChunk = Math.min(Math.max(this.#nextChunk, size) * 2, MAX_CHUNK);
    return chunk;
  }

  appendBorrowed(segment: Uint8Array): void {
    const length = segment.length;
    if (length === 0) return;
    if (!this.vectored && length < COPY_BELOW) {
      this.reserve(length).set(segment, this.length);
      this.length += length;
      return;
    }
    this.#seal();
    // A view of its own, so that one frame written twice is two segments to account for.
    const view = segment.subarray(0);
    this.#segments.push(view);
    this.#segmentBytes += length;
    this.#borrowed++;
    this.#borrowedSegments.add(view);
  }

  /** Removes and returns everything queued, as segments in order. */
  take(): Uint8Array[] {
    this.#seal();
    this.#leaveChunk();
    this.#chunk = null;
    this.bytes = EMPTY;
    if (this.#segmentBytes < this.#minChunk) {
      // The burst is over: shrink back.
      this.#nextChunk = this.#minChunk;
    }
    const segments = this.#segments;
    this.#unsent += this.#segmentBytes;
    this.#segments = [];
    this.#segmentBytes = 0;
    return segments;
  }

  /**
   * Hands back a segment from `take()` once the runtime is done with it (written, and no longer
   * referenced by the socket), in order. A chunk is reused only after its last segment is back.
   */
  recycle(segment: Uint8Array): void {
    this.#unsent = Math.max(0, this.#unsent - segment.length);
    if (this.#borrowedSegments.delete(segment)) this.#borrowed--;
    const finals = this.#finals;
    for (let i = 0; i < finals.length; i += 2) {
      if (finals[i] !== segment) continue;
      const spares = this.#spares;
      // A chunk made for one reservation over 1 MiB is not kept.
      const chunk = finals[i + 1]!;
      if (spares.length < MAX_SPARES && chunk.length <= MAX_CHUNK) spares.push(chunk);
      // Segments are written in order, so any chunk before this one was written too.
      if (i + 2 === finals.length) finals.length = 0;
      else finals.splice(0, i + 2);
      break;
    }
    if (this.#unsent === 0 && this.byteLength === 0 && this.#spares.length > 0) {
      // Everything is sent: the connection may stay quiet for hours, so hold nothing strongly.
      const quiet = this.#quietSpares;
      for (const spare of this.#spares) quiet.unshift(weakRefTo(spare));
      quiet.length = Math.min(quiet.length, MAX_SPARES);
      this.#spares.length = 0;
      this.#nextChunk = this.#minChunk;
    }
  }

  /** Removes everything queued and returns it as one buffer (a view when it is one segment). */
  takeBytes(): Uint8Array {
    const segments = this.take();
    this.#unsent = 0; // nothing is recycled from here
    this.#finals.length = 0;
    this.#borrowed = 0;
    if (segments.length === 1) return segments[0]!;
    const out = new Uint8Array(segments.reduce((sum, s) => sum + s.length, 0));
    let at = 0;
    for (const segment of segments) {
      out.set(segment, at);
      at += segment.length;
    }
    return out;
  }

  // Moves the filled part of the current chunk to the segment list; the rest of the chunk takes
  // later writes.
  #seal(): void {
    if (this.length === 0) return;
    const segment = this.bytes.subarray(0, this.length);
    this.#segments.push(segment);
    this.#segmentBytes += this.length;
    this.#chunkTail = segment;
    this.bytes = this.bytes.subarray(this.length);
    this.length = 0;
  }

  // No more bytes go into the current chunk: its last sealed segment is the one whose write frees
  // it. (A chunk left with nothing sealed, as when it is grown into a larger one, is just dropped.)
  #leaveChunk(): void {
    if (this.#chunkTail === null) return;
    const finals = this.#finals;
    // Bounded, in case segments are sent and never handed back: forgetting one only skips a reuse.
    if (finals.length === 2 * MAX_FINALS) finals.splice(0, 2);
    finals.push(this.#chunkTail, this.#chunk!);
    this.#chunkTail = null;
  }
}

// One WeakRef per chunk, made once: a connection that goes quiet after every reply (ping-pong)
// would otherwise make one per reply.
const weakRefs = new WeakMap<Uint8Array, WeakRef<Uint8Array>>();

function weakRefTo(chunk: Uint8Array): WeakRef<Uint8Array> {
  let ref = weakRefs.get(chunk);
  if (ref === undefined) weakRefs.set(chunk, ref = new WeakRef(chunk));
  return ref;
}

/** codec.encode() for any codec: encode into a right-sized queue and return one buffer. */
export function encodeToBytes<T>(
  encodeTo: (frame: T, sink: EncodeSink) => void,
  frame: T,
  sizeHint: number,
): Uint8Array {
  const queue = new ByteQueue(Math.max(sizeHint, 1));
  encodeTo(frame, queue);
  return queue.takeBytes();
}
