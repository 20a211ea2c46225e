// Internal: reads a connection's PROXY header, then hands the connection on as a ByteStream whose
// first byte is the first byte after the header. The header may arrive byte by byte or glued to
// the first frames in one chunk: what follows it in that chunk is kept (by reference, the adapter
// is told so) and delivered first once the new stream is started; nothing is read twice or lost.
//
// Between the header and `start()` on the new stream (while the connection waits to be accepted)
// the socket is paused, so a peer cannot make the queue buffer more than the chunk in flight.

import type {
  Address,
  ByteStream,
  ByteStreamHandlers,
  NetAddress,
  TlsInfo,
} from "./byte_stream.ts";
import { ProxyProtocolError } from "./errors.ts";
import { maxProxyHeaderLength, parseProxyHeader } from "./_proxy_header.ts";
import type { ProxyInfo, ProxyProtocolVersion } from "./proxy_protocol.ts";

/** The default of `proxyTimeout`, in ms. */
export const DEFAULT_PROXY_TIMEOUT = 5000;

/**
 * Reads the header of `stream`; calls `done` once with the wrapped stream or with a
 * ProxyProtocolError (the socket is then closed). The returned function gives up (the listener
 * closed): the socket is closed and `done` is not called.
 */
export function readProxyHeader(
  stream: ByteStream,
  accept: ProxyProtocolVersion,
  timeout: number,
  done: (outcome: { stream: ByteStream } | { error: ProxyProtocolError }) => void,
): () => void {
  const max = maxProxyHeaderLength(accept);
  // Bytes of an unfinished header, copied: at most `max`.
  let pending: Uint8Array = new Uint8Array(0);
  let settled = false;
  let wrapped: ProxiedStream | null = null;
  const peer = stream.remoteAddress;

  const fail = (
    code: "PROXY_PROTOCOL_INVALID" | "PROXY_PROTOCOL_TIMEOUT",
    reason: string,
    cause?: unknown,
  ) => {
    if (settled) return;
    settled = true;
    clearTimeout(timer);
    stream.close();
    done({
      error: new ProxyProtocolError(
        peer,
        code,
        reason,
        cause === undefined ? undefined : { cause },
      ),
    });
  };
  const timer = setTimeout(
    () => fail("PROXY_PROTOCOL_TIMEOUT", `no complete header within ${timeout} ms`),
    timeout,
  );

  stream.start({
    data(chunk) {
      if (wrapped !== null) return wrapped.data(chunk);
      if (settled) return false;
      // Parse the chunk where it lies when nothing is pending (the usual case: the whole header
      // in the first chunk); otherwise append no more than a header can still need.
      let input: Uint8Array;
      let taken: number;
      if (pending.length === 0) {
        input = chunk;
        taken = chunk.length;
      } else {
        taken = Math.min(chunk.length, max - pending.length);
        input = new Uint8Array(pending.length + taken);
        input.set(pending);
        input.set(chunk.subarray(0, taken), pending.length);
      }
      const step = parseProxyHeader(input, accept);
      if (step.status === "invalid") {
        fail("PROXY_PROTOCOL_INVALID", step.reason);
        return false;
      }
      if (step.status === "more") {
        // parseProxyHeader refuses anything longer than `max`, so this stays within it.
        pending = input === chunk ? chunk.slice() : input;
        return false;
      }
      settled = true;
      clearTimeout(timer);
      stream.pause();
      const backlog: Uint8Array[] = [];
      if (step.length < input.length) backlog.push(input.subarray(step.length));
      const keptChunk = input !== chunk && taken < chunk.length;
      if (keptChunk) backlog.push(chunk.subarray(taken));
      pending = new Uint8Array(0);
      const proxyAddress = peer as NetAddress;
      const { header } = step;
      const info: ProxyInfo = Object.freeze({ ...header, proxyAddress });
      wrapped = new ProxiedStream(stream, info, backlog);
      done({ stream: wrapped });
      // The backlog holds a view of `chunk` when the header ended inside it.
      return input === chunk ? backlog.length > 0 : keptChunk;
    },
    end() {
      if (wrapped !== null) return wrapped.end();
      fail(
        "PROXY_PROTOCOL_INVALID",
        pending.length === 0
          ? "the connection closed before sending a header"
          : `the connection closed after ${pending.length} bytes of an incomplete header`,
      );
    },
    error(error) {
      if (wrapped !== null) return wrapped.error(error);
      const reason = error instanceof Error ? error.message : String(error);
      fail("PROXY_PROTOCOL_INVALID", `the connection failed before the header: ${reason}`, error);
    },
  });

  return () => {
    if (settled) return;
    settled = true;
    clearTimeout(timer);
    stream.close();
  };
}

/** The connection after its header: the client it names as `remoteAddress`, itself as `proxy`. */
class ProxiedStream implements ByteStream {
  readonly localAddress: Address;
  readonly remoteAddress: Address;
  readonly proxy: ProxyInfo;
  readonly writev?: (segments: readonly Uint8Array[]) => Promise<void>;
  readonly #inner: ByteStream;
  #backlog: Uint8Array[];
  #handlers: ByteStreamHandlers | null = null;
  // What happened to the socket before start(): delivered after the backlog.
  #ending: { error: unknown } | "end" | null = null;
  #paused = false;

  constructor(inner: ByteStream, proxy: ProxyInfo, backlog: Uint8Array[]) {
    this.#inner = inner;
    this.proxy = proxy;
    this.#backlog = backlog;
    this.localAddress = inner.localAddress;
    // LOCAL, UNKNOWN and address-less families keep the socket's peer.
    this.remoteAddress = proxy.source ?? inner.remoteAddress;
    if (inner.writev !== undefined) this.writev = (segments) => inner.writev!(segments);
  }

  get tls(): TlsInfo | undefined {
    return this.#inner.tls;
  }

  // ── From the socket ─────────────────────────────────────────────────────────────────────

  data(chunk: Uint8Array): boolean {
    if (this.#handlers !== null) return this.#handlers.data(chunk);
    // A chunk already in flight when the socket was paused: kept for start().
    this.#backlog.push(chunk);
    return true;
  }

  end(): void {
    if (this.#handlers !== null) this.#handlers.end();
    else this.#ending = "end";
  }

  error(error: unknown): void {
    if (this.#handlers !== null) this.#handlers.error(error);
    else this.#ending = { error };
  }

  // ── ByteStream ──────────────────────────────────────────────────────────────────────────

  start(handlers: ByteStreamHandlers): void {
    this.#handlers = handlers;
    const backlog = this.#backlog;
    this.#backlog = [];
    for (const chunk of backlog) handlers.data(chunk);
    const ending = this.#ending;
    if (ending === "end") handlers.end();
    else if (ending !== null) handlers.error(ending.error);
    else if (!this.#paused) this.#inner.resume();
  }

  pause(): void {
    this.#paused = true;
    this.#inner.pause();
  }

  resume(): void {
    this.#paused = false;
    // Before start() the socket stays paused: nobody would take its bytes.
    if (this.#handlers !== null) this.#inner.resume();
  }

  write(bytes: Uint8Array): Promise<number> {
    return this.#inner.write(bytes);
  }

  closeWrite(): Promise<void> {
    return this.#inner.closeWrite();
  }

  close(): void {
    this.#inner.close();
  }
}
