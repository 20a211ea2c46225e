/**
 * `connect` and `connectStream`: the client side, on the running runtime's native sockets (Deno or
 * Bun), or on Node's net module when asked (`api: "node"`) or when running in Node.
 *
 * @module
 */

import { codecOrDefault } from "./_default_codec.ts";
import { connectAddress } from "./_target_address.ts";
import type { ConnectStreamOptions } from "./adapter.ts";
import type { ByteStream } from "./byte_stream.ts";
import type { Codec } from "./codec.ts";
import { ConnectTimeoutError } from "./errors.ts";
import { FramedConn, type FramedConnOptions } from "./framed_conn.ts";
import { loadStreamAdapter, type SocketApi } from "./runtime.ts";

/** What {@linkcode connect} adds to where it connects: the framing and the socket API. */
export interface ConnectFramingOptions<T> extends FramedConnOptions {
  /** The framing. Default `lengthPrefix()` (u32be, 16 MiB). */
  codec?: Codec<T>;
  /** `"native"` (default) or `"node"` for Node's net module (and its TLS module for TLS). */
  api?: SocketApi;
}

/**
 * How long {@linkcode connect} and {@linkcode connectStream} may try. (`signal`, which aborts
 * connecting, is part of where to connect: every adapter honours it.)
 */
export interface ConnectTimeoutOptions {
  /**
   * How long (milliseconds) connecting may take, TCP connection and (with `tls`) handshake
   * together, before it fails with {@linkcode ConnectTimeoutError} naming the address.
   * Default: no limit but the system's (and, with `tls`, `tls.handshakeTimeout` for the
   * handshake).
   */
  timeout?: number;
}

/**
 * Options of {@linkcode connect}: a TCP address (`hostname`, `port`, optionally `tls`) or a unix
 * socket `path`, plus the framing.
 */
export type ConnectOptions<T> =
  & ConnectStreamOptions
  & ConnectTimeoutOptions
  & ConnectFramingOptions<T>;

/**
 * Connects and returns the raw {@linkcode ByteStream}, with no framing: for hand-written protocols,
 * baselines, and tests that need to send arbitrary bytes. Over TCP (`port`), TLS (`tls`) or a
 * unix socket (`path`).
 *
 * @param options Where to connect, and which socket API to use.
 * @returns The connected stream; with `tls`, once the handshake has succeeded.
 * @throws {ConnectError} Naming the address, when the connection fails.
 * @throws {TlsError} Naming the address, when the TLS handshake fails (the certificate does not
 * verify, the name does not match, it expired...).
 * @throws {ConnectTimeoutError} Naming the address, when `timeout` (milliseconds) passes first.
 * @throws The reason of `signal` when it is aborted first, as `fetch` does; a socket that
 * connects afterwards is closed.
 *
 * @example Four bytes of length, then the payload, by hand
 * ```ts
 * import { connectStream, sendAll, serve } from "@nianbao/framed";
 *
 * await using server = await serve({ handler: async (conn) => void conn.write((await conn.readFrame())!) });
 * const stream = await connectStream({ port: server.address.port });
 * await sendAll(stream, new Uint8Array([0, 0, 0, 1, 42]));
 * stream.close();
 * ```
 */
export async function connectStream(
  options: ConnectStreamOptions & ConnectTimeoutOptions & { api?: SocketApi },
): Promise<ByteStream> {
  const { signal, timeout } = options;
  const adapter = await loadStreamAdapter(options.api);
  signal?.throwIfAborted();
  if (signal === undefined && timeout === undefined) return adapter.connectStream(options);
  // One signal for the adapter, aborted by the caller's signal or by the timeout, with the reason
  // to reject with: the adapter closes what it is opening, and a socket that connects anyway
  // (an adapter whose runtime cannot cancel a pending connect, like Bun's) is closed here.
  const stop = new AbortController();
  const abort = () => stop.abort(signal!.reason);
  signal?.addEventListener("abort", abort, { once: true });
  const timer = timeout === undefined ? undefined : setTimeout(
    () => stop.abort(new ConnectTimeoutError(connectAddress(options), timeout)),
    timeout,
  );
  // Listening before the adapter does: its own rejection on abort must lose the race.
  const aborted = new Promise<never>((_, reject) => {
    stop.signal.addEventListener("abort", () => reject(stop.signal.reason), { once: true });
  });
  const attempt = adapter.connectStream({ ...options, signal: stop.signal });
  try {
    return await Promise.race([attempt, aborted]);
  } catch (error) {
    if (stop.signal.aborted) void attempt.then((late) => late.close(), () => {});
    throw error;
  } finally {
    clearTimeout(timer);
    signal?.removeEventListener("abort", abort);
    aborted.catch(() => {});
  }
}

/**
 * Connects to a framed server over TCP (`port`), TLS (`tls`) or a unix socket (`path`). Unlike
 * accepted connections, a client keeps reading replies while
 * its own writes wait (`pauseReadsWhileWriteBlocked` defaults to `false`), so a pipelining client
 * and a server that answers every frame never wait for each other.
 *
 * @param options Where to connect, the framing, backpressure and timeouts.
 * @returns The framed connection; with `tls`, once the handshake has succeeded.
 * @throws {ConnectError} Naming the address, when the connection fails.
 * @throws {TlsError} Naming the address, when the TLS handshake fails.
 * @throws {ConnectTimeoutError} Naming the address, when `timeout` (milliseconds) passes first.
 * @throws The reason of `signal` when it is aborted first, as `fetch` does.
 *
 * @example A round trip to an echo server
 * ```ts
 * import { connect, serve } from "@nianbao/framed";
 *
 * await using server = await serve({
 *   handler: async (conn) => {
 *     for await (const frame of conn) conn.write(frame);
 *   },
 * });
 * await using conn = await connect({ port: server.address.port });
 * await conn.writeFrame(new TextEncoder().encode("hello"));
 * const reply = await conn.readFrame();
 * if (new TextDecoder().decode(reply!) !== "hello") throw new Error("no echo");
 * ```
 */
export async function connect<T = Uint8Array>(options: ConnectOptions<T>): Promise<FramedConn<T>> {
  const stream = await connectStream(options);
  return new FramedConn(stream, codecOrDefault(options.codec), {
    ...options,
    // A client reads its replies while its requests wait: see FramedConnOptions.
    pauseReadsWhileWriteBlocked: options.pauseReadsWhileWriteBlocked ?? false,
  });
}
