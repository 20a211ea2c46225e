// Internal: turns pushed items (accepted connections, received datagrams) into `next()`
// promises, for the adapters whose runtime calls back instead of being asked.
//
// Unbounded by default: the TCP listeners queue every accepted connection. With `maxBytes`, the
// queued items (as `sizeOf` counts them) stay within that many bytes and a NEW item that does not
// fit is dropped and counted, as a full kernel receive buffer drops new datagrams: what is already
// queued arrived first and is kept.

/** A byte bound for the queue. */
export interface WaitQueueBound<T> {
  /** The most bytes the queued items may hold together. */
  maxBytes: number;
  /** How many bytes one item holds. */
  sizeOf(item: T): number;
}

interface Waiter<T> {
  resolve(item: T | null): void;
  reject(error: unknown): void;
}

/** What an aborted `next()` rejects with: the signal's reason, as `fetch` does. */
export function abortReason(signal: AbortSignal): unknown {
  return signal.reason ?? new DOMException("The operation was aborted", "AbortError");
}

/**
 * Puts `waiter` in `line`. When `signal` aborts before the waiter is settled, it leaves the line
 * (so the next item goes to the next waiter, not to nobody) and rejects with the signal's reason.
 * Used by every queue with an abortable wait: WaitQueue.next and FrameReader.readFrame.
 */
export function joinLine<W extends { resolve(value: never): void; reject(error: unknown): void }>(
  line: W[],
  waiter: W,
  signal?: AbortSignal,
): void {
  if (signal === undefined) {
    line.push(waiter);
    return;
  }
  const onAbort = () => {
    const at = line.indexOf(inLine);
    if (at !== -1) line.splice(at, 1);
    waiter.reject(abortReason(signal));
  };
  const inLine: W = {
    ...waiter,
    resolve: (value: never) => {
      signal.removeEventListener("abort", onAbort);
      waiter.resolve(value);
    },
    reject: (error: unknown) => {
      signal.removeEventListener("abort", onAbort);
      waiter.reject(error);
    },
  };
  signal.addEventListener("abort", onAbort, { once: true });
  line.push(inLine);
}

export class WaitQueue<T> {
  // A queue with a moving head: shift() on a long array copies it every time.
  #items: T[] = [];
  #head = 0;
  readonly #waiters: Waiter<T>[] = [];
  readonly #bound: WaitQueueBound<T> | undefined;
  #bytes = 0;
  #dropped = 0;
  #closed = false;
  #error: { error: unknown } | null = null;

  constructor(bound?: WaitQueueBound<T>) {
    this.#bound = bound;
  }

  /** Items dropped because the byte bound was full. */
  get dropped(): number {
    return this.#dropped;
  }

  /** Bytes queued now, as the bound counts them (0 when unbounded). */
  get queuedBytes(): number {
    return this.#bytes;
  }

  /** Hands `item` to the oldest waiter, or queues it. Returns `false` when it was dropped. */
  push(item: T): boolean {
    const waiter = this.#waiters.shift();
    if (waiter !== undefined) {
      waiter.resolve(item);
      return true;
    }
    if (this.#bound !== undefined) {
      const size = this.#bound.sizeOf(item);
      if (this.#bytes + size > this.#bound.maxBytes) {
        this.#dropped++;
        return false;
      }
      this.#bytes += size;
    }
    this.#items.push(item);
    return true;
  }

  /**
   * The next item; items queued before `close()` are still handed out, then `null` (or the error
   * `close` was given). An aborted `signal` rejects with its reason and gives up the place in
   * line, so the next item goes to the next caller instead of to nobody.
   */
  next(signal?: AbortSignal): Promise<T | null> {
    if (signal?.aborted) return Promise.reject(abortReason(signal));
    if (this.#head < this.#items.length) return Promise.resolve(this.#take());
    if (this.#closed) {
      return this.#error === null ? Promise.resolve(null) : Promise.reject(this.#error.error);
    }
    return new Promise((resolve, reject) => joinLine(this.#waiters, { resolve, reject }, signal));
  }

  /** Ends the queue: waiters get `null`, or reject with `error` when one is given. Idempotent. */
  close(error?: unknown): void {
    if (this.#closed) return;
    this.#closed = true;
    if (error !== undefined) this.#error = { error };
    for (const waiter of this.#waiters.splice(0)) {
      if (error === undefined) waiter.resolve(null);
      else waiter.reject(error);
    }
  }

  /** The next queued item without waiting, or `undefined` when none is queued. */
  take(): T | undefined {
    return this.#head < this.#items.length ? this.#take() : undefined;
  }

  #take(): T {
    const item = this.#items[this.#head]!;
    // Let the item go: a slot left holding it would keep it alive until the next compaction.
    (this.#items as (T | undefined)[])[this.#head] = undefined;
    this.#head++;
    if (this.#head === this.#items.length) {
      this.#items = [];
      this.#head = 0;
    } else if (this.#head >= 1024 && this.#head * 2 >= this.#items.length) {
      this.#items = this.#items.slice(this.#head);
      this.#head = 0;
    }
    if (this.#bound !== undefined) this.#bytes -= this.#bound.sizeOf(item);
    return item;
  }
}
