// Internal: what an accept loop does when accepting fails. No accept loop may end, or stall,
// because of one peer.
//
// - A connection that failed between the kernel's handshake and accept() belongs to one peer:
//   skip it and accept the next one at once. accept(2) on Linux returns ECONNABORTED and "network
//   errors already pending on the new socket" (EPROTO, ENETDOWN, EHOSTUNREACH, ...) and says to
//   retry them like EAGAIN; libuv drops ECONNABORTED the same way (uv__server_io). ENOTCONN and
//   ECONNRESET come from runtimes that read the peer's address after accepting (Deno).
// - Anything else belongs to the process (EMFILE, ENFILE, ENOBUFS, ENOMEM): accepting again at
//   once would spin on the same error, so wait 10 ms, doubling up to 1 s, until an accept
//   succeeds (Go's net/http Server.Serve waits 5 ms doubling to 1 s), and report once per burst.

const PEER_ACCEPT_ERRORS: ReadonlySet<string> = new Set([
  "ECONNABORTED",
  "ECONNRESET",
  "ENOTCONN",
  "EPROTO",
  "EPERM", // accept(2): a firewall rule refused this connection
  "ENETDOWN",
  "ENETUNREACH",
  "ENOPROTOOPT",
  "EHOSTDOWN",
  "EHOSTUNREACH",
  "ENONET",
  "EOPNOTSUPP",
  "ETIMEDOUT",
]);

const FIRST_DELAY_MS = 10;
const MAX_DELAY_MS = 1000;

/** Whether a failed accept concerns one peer only (skip it) rather than the process. */
export function isPeerAcceptError(error: unknown): boolean {
  const code = (error as { code?: unknown } | null | undefined)?.code;
  return typeof code === "string" && PEER_ACCEPT_ERRORS.has(code);
}

/** The wait between accepts while the process is out of a resource. */
export class AcceptBackoff {
  #delay = 0;

  /** The wait the next `wait()` takes, in ms; 0 outside a burst. */
  get delay(): number {
    return this.#delay;
  }

  /**
   * Records a failed accept.
   * @returns `true` when it starts a burst of failures: report that one, not every retry.
   */
  fail(): boolean {
    const first = this.#delay === 0;
    this.#delay = first ? FIRST_DELAY_MS : Math.min(this.#delay * 2, MAX_DELAY_MS);
    return first;
  }

  /** Records a successful accept: the burst is over. */
  succeed(): void {
    this.#delay = 0;
  }

  /** Waits out the current delay; an abort ends the wait early. */
  wait(signal?: AbortSignal): Promise<void> {
    return new Promise((resolve) => {
      if (signal?.aborted) return resolve();
      const done = () => {
        clearTimeout(timer);
        signal?.removeEventListener("abort", done);
        resolve();
      };
      const timer = setTimeout(done, this.#delay);
      signal?.addEventListener("abort", done, { once: true });
    });
  }
}
