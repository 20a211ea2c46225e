// Internal: a listener whose connections are handed out only once their PROXY header has been
// read, in the order the headers complete, as _handshake_queue.ts does for TLS: one slow or
// silent peer never holds up the others, because accepting goes on (in #pump) while headers are
// awaited. A refused connection is closed and becomes a ProxyProtocolError for the next accept().

import { AcceptBackoff, isPeerAcceptError } from "./_accept_backoff.ts";
import type { ListenStreamsOptions } from "./adapter.ts";
import type { ByteListener, ByteStream, NetAddress } from "./byte_stream.ts";
import { TlsError } from "./errors.ts";
import { DEFAULT_PROXY_TIMEOUT, readProxyHeader } from "./_proxy_stream.ts";
import type { ProxyProtocolOptions, ProxyProtocolVersion } from "./proxy_protocol.ts";
import { WaitQueue } from "./_wait_queue.ts";

type Outcome = { stream: ByteStream } | { error: unknown };

const VERSIONS: ReadonlySet<unknown> = new Set(["v1", "v2", "any"]);

/**
 * Checks the PROXY options before anything listens, so a mistake costs no socket.
 * @throws {TypeError} For an unknown version, or with a unix socket or TLS (not supported).
 * @throws {RangeError} For a `proxyTimeout` that is not a positive number of ms.
 */
export function checkProxyOptions(options: ListenStreamsOptions & ProxyProtocolOptions): void {
  const { proxyProtocol, proxyTimeout } = options;
  if (proxyProtocol === undefined) {
    if (proxyTimeout !== undefined) throw new TypeError("proxyTimeout needs proxyProtocol");
    return;
  }
  if (!VERSIONS.has(proxyProtocol)) {
    throw new TypeError(`proxyProtocol must be "v1", "v2" or "any", not ${String(proxyProtocol)}`);
  }
  if (options.path !== undefined) {
    throw new TypeError("proxyProtocol is supported on TCP listeners only, not unix sockets");
  }
  if (options.tls !== undefined) {
    // The header precedes the ClientHello, so it would have to be read below the runtime's TLS.
    throw new TypeError("proxyProtocol is not supported together with tls yet");
  }
  if (
    proxyTimeout !== undefined &&
    !(typeof proxyTimeout === "number" && proxyTimeout > 0 && proxyTimeout <= 2 ** 31 - 1)
  ) {
    throw new RangeError(`proxyTimeout must be a positive number of ms, not ${proxyTimeout}`);
  }
}

/**
 * `listener`, reading a PROXY header on each connection when `options.proxyProtocol` is set;
 * `listener` itself otherwise. Call checkProxyOptions first.
 */
export function withProxyProtocol<L extends ByteListener>(
  listener: L,
  options: ProxyProtocolOptions,
): L {
  if (options.proxyProtocol === undefined) return listener;
  return new ProxyListener(
    listener as ByteListener<NetAddress>,
    options.proxyProtocol,
    options.proxyTimeout ?? DEFAULT_PROXY_TIMEOUT,
  ) as unknown as L;
}

class ProxyListener implements ByteListener<NetAddress> {
  readonly address: NetAddress;
  readonly #inner: ByteListener<NetAddress>;
  readonly #accept: ProxyProtocolVersion;
  readonly #timeout: number;
  readonly #ready = new WaitQueue<Outcome>();
  readonly #pending = new Set<() => void>();
  readonly #stopped = new AbortController();
  #closed = false;

  constructor(inner: ByteListener<NetAddress>, accept: ProxyProtocolVersion, timeout: number) {
    this.#inner = inner;
    this.address = inner.address;
    this.#accept = accept;
    this.#timeout = timeout;
    void this.#pump();
  }

  async accept(): Promise<ByteStream | null> {
    const outcome = await this.#ready.next();
    if (outcome === null) return null;
    if ("error" in outcome) throw outcome.error;
    return outcome.stream;
  }

  close(): void {
    if (this.#closed) return;
    this.#closed = true;
    this.#stopped.abort();
    this.#inner.close();
    for (const cancel of [...this.#pending]) cancel();
    this.#pending.clear();
    this.#ready.close();
    // Connections whose header arrived but that nobody accepted belong to nobody now.
    for (;;) {
      const outcome = this.#ready.take();
      if (outcome === undefined) break;
      if ("stream" in outcome) outcome.stream.close();
    }
  }

  async #pump(): Promise<void> {
    const backoff = new AcceptBackoff();
    while (!this.#closed) {
      let stream: ByteStream | null;
      try {
        stream = await this.#inner.accept();
      } catch (error) {
        if (this.#closed) return;
        // A peer that reset before it was accepted costs nothing; an error of the process
        // (EMFILE) goes to the next accept() and is waited out here, so this loop cannot spin.
        if (isPeerAcceptError(error)) continue;
        this.#ready.push({ error });
        if (!(error instanceof TlsError)) {
          backoff.fail();
          await backoff.wait(this.#stopped.signal);
        }
        continue;
      }
      if (stream === null) return this.close();
      backoff.succeed();
      if (this.#closed) return stream.close();
      this.#begin(stream);
    }
  }

  #begin(stream: ByteStream): void {
    // done() may run before readProxyHeader returns (a runtime that delivers the first chunk
    // inside start()), so `cancel` is not known yet then.
    let finished = false;
    let cancel: (() => void) | null = null;
    cancel = readProxyHeader(stream, this.#accept, this.#timeout, (outcome) => {
      finished = true;
      if (cancel !== null) this.#pending.delete(cancel);
      if (this.#closed) {
        if ("stream" in outcome) outcome.stream.close();
        return;
      }
      this.#ready.push(outcome);
    });
    if (!finished) this.#pending.add(cancel);
  }
}
