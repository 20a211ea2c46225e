// Internal: turns pushed datagrams (Bun and Node's dgram module call back) into `receive()` promises.
// Bounded: past `limit` waiting datagrams the oldest are dropped, as a full kernel buffer would.

import type { Datagram } from "./datagram.ts";

export class DatagramQueue {
  readonly #queue: Datagram[] = [];
  readonly #waiters: ((datagram: Datagram | null) => void)[] = [];
  readonly #limit: number;
  #closed = false;

  constructor(limit = 4096) {
    this.#limit = limit;
  }

  push(datagram: Datagram): void {
    const waiter = this.#waiters.shift();
    if (waiter !== undefined) return waiter(datagram);
    this.#queue.push(datagram);
    if (this.#queue.length > this.#limit) this.#queue.shift();
  }

  receive(): Promise<Datagram | null> {
    const next = this.#queue.shift();
    if (next !== undefined) return Promise.resolve(next);
    if (this.#closed) return Promise.resolve(null);
    return new Promise((resolve) => this.#waiters.push(resolve));
  }

  close(): void {
    this.#closed = true;
    for (const waiter of this.#waiters.splice(0)) waiter(null);
  }
}
