// Internal: turns pushed items (accepted connections, received datagrams) into `next()`
// promises, for the adapters whose runtime calls back instead of being asked. Past `limit`
// waiting items the oldest are dropped, as a full kernel buffer drops datagrams.

export class WaitQueue<T> {
  readonly #items: T[] = [];
  readonly #waiters: ((item: T | null) => void)[] = [];
  readonly #limit: number;
  #closed = false;

  constructor(limit = Infinity) {
    this.#limit = limit;
  }

  push(item: T): void {
    const waiter = this.#waiters.shift();
    if (waiter !== undefined) return waiter(item);
    this.#items.push(item);
    if (this.#items.length > this.#limit) this.#items.shift();
  }

  /** The next item; items queued before `close()` are still handed out, then `null`. */
  next(): Promise<T | null> {
    if (this.#items.length > 0) return Promise.resolve(this.#items.shift()!);
    if (this.#closed) return Promise.resolve(null);
    return new Promise((resolve) => this.#waiters.push(resolve));
  }

  close(): void {
    this.#closed = true;
    for (const waiter of this.#waiters.splice(0)) waiter(null);
  }
}
