// Internal: the accepting side of every TLS listener. Connections are handed out only once their
// handshake has succeeded, in the order they finish, so one slow or silent peer never holds up
// the others; a handshake that fails, or does not finish within the timeout, closes that peer's
// socket and becomes a TlsError for the next accept() (serve() reports it and accepts again).
//
// Each adapter feeds it: `begin` when a TCP connection arrives (with a promise of the finished
// stream and a way to drop the socket), `fail` for an error of the listener itself.

import type { Address, ByteStream } from "./byte_stream.ts";
import { TlsError } from "./errors.ts";
import { WaitQueue } from "./_wait_queue.ts";

type Outcome = { stream: ByteStream } | { error: unknown };

export class HandshakeQueue {
  readonly #ready = new WaitQueue<Outcome>();
  readonly #pending = new Set<(why: "failed" | "timeout" | "closed") => void>();
  readonly #timeout: number;
  #queued = 0;
  #closed = false;

  constructor(timeout: number) {
    this.#timeout = timeout;
  }

  /** Outcomes (streams and errors) nobody has taken yet. */
  get unclaimed(): number {
    return this.#queued;
  }

  /**
   * Tracks one handshake. `handshake` resolves with the stream once it succeeded; `drop` closes
   * the socket (called on failure, on timeout and when the listener closes first), and is told
   * why: an adapter whose runtime cannot close a socket mid-handshake may wait instead.
   */
  begin(
    remote: Address,
    handshake: Promise<ByteStream>,
    drop: (why: "failed" | "timeout" | "closed") => void,
  ): void {
    if (this.#closed) {
      drop("closed");
      void handshake.catch(() => {});
      return;
    }
    const cancel = (why: "failed" | "timeout" | "closed") => {
      clearTimeout(timer);
      this.#pending.delete(cancel);
      drop(why);
    };
    const timer = setTimeout(() => {
      cancel("timeout");
      const silence = new Error(`no handshake within ${this.#timeout} ms`);
      this.#push({ error: new TlsError(remote, silence) });
    }, this.#timeout);
    this.#pending.add(cancel);
    handshake.then(
      (stream) => {
        // Too late (timed out, or the listener closed meanwhile): nobody will accept it.
        if (!this.#pending.has(cancel)) return stream.close();
        clearTimeout(timer);
        this.#pending.delete(cancel);
        this.#push({ stream });
      },
      (error) => {
        if (!this.#pending.has(cancel)) return;
        cancel("failed");
        this.#push({ error: error instanceof TlsError ? error : new TlsError(remote, error) });
      },
    );
  }

  /**
   * A stream whose handshake the runtime itself ran and finished (Node's TLS server, which also
   * times handshakes out).
   */
  succeeded(stream: ByteStream): void {
    if (this.#closed) stream.close();
    else this.#push({ stream });
  }

  /**
   * A failed handshake the runtime reported (a TlsError), or a failure of the listener itself
   * (EMFILE...): thrown by the next `next()`.
   */
  fail(error: unknown): void {
    if (!this.#closed) this.#push({ error });
  }

  /** The next handshaken stream; throws the next failure; `null` once closed. */
  async next(): Promise<ByteStream | null> {
    const outcome = await this.#ready.next();
    if (outcome === null) return null;
    this.#queued--;
    if ("error" in outcome) throw outcome.error;
    return outcome.stream;
  }

  /** Drops every handshake under way and every stream not yet taken. Idempotent. */
  close(): void {
    if (this.#closed) return;
    this.#closed = true;
    for (const cancel of [...this.#pending]) cancel("closed");
    this.#ready.close();
    // Streams that finished their handshake but were never accepted belong to nobody now.
    for (;;) {
      const outcome = this.#ready.take();
      if (outcome === undefined) break;
      if ("stream" in outcome) outcome.stream.close();
    }
  }

  #push(outcome: Outcome): void {
    this.#queued++;
    this.#ready.push(outcome);
  }
}
