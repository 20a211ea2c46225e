/**
 * `listen` and `listenStreams`: accepting connections on the running runtime's native sockets, or
 * on Node's net module (`api: "node"`, and in Node).
 *
 * @module
 */

import { AcceptBackoff, isPeerAcceptError } from "./_accept_backoff.ts";
import { codecOrDefault } from "./_default_codec.ts";
import { ProxyProtocolError, TlsError } from "./errors.ts";
import type { ListenStreamsOptions, TcpListenOptions, UnixListenOptions } from "./adapter.ts";
import type { Address, ByteListener, NetAddress, UnixAddress } from "./byte_stream.ts";
import type { Codec } from "./codec.ts";
import { FramedConn, type FramedConnOptions } from "./framed_conn.ts";
import type { ProxyProtocolOptions } from "./proxy_protocol.ts";
import { checkProxyOptions, withProxyProtocol } from "./_proxy_listener.ts";
import { loadStreamAdapter, type SocketApi } from "./runtime.ts";

/**
 * What {@linkcode listen} adds to where it listens: the framing, the socket API and (TCP without
 * TLS) the PROXY protocol.
 */
export interface ListenFramingOptions<T> extends FramedConnOptions, ProxyProtocolOptions {
  /** The framing. Default `lengthPrefix()`. */
  codec?: Codec<T>;
  /** `"native"` (default) or `"node"` for Node's net module (and its TLS module for TLS). */
  api?: SocketApi;
  /**
   * Aborting it closes the listener: `accept()` returns `null` and `for await` ends; connections
   * already accepted stay open. Already aborted: `listen()` rejects with its reason.
   */
  signal?: AbortSignal;
}

/**
 * Options of {@linkcode listen}: a TCP address (`hostname`, `port`, optionally `tls`) or a unix
 * socket `path`, plus the framing.
 */
export type ListenOptions<T> = ListenStreamsOptions & ListenFramingOptions<T>;

/**
 * A listener of framed connections. `await using` closes it at the end of the scope. `A` is
 * where it listens: a {@linkcode NetAddress} (TCP, TLS) or a {@linkcode UnixAddress}.
 */
export interface FramedListener<T, A extends Address = NetAddress>
  extends AsyncIterable<FramedConn<T>>, AsyncDisposable {
  /** Where it listens. */
  readonly address: A;
  /** Waits for the next connection; `null` once closed. */
  accept(): Promise<FramedConn<T> | null>;
  /** Stops listening; accepted connections stay open. */
  close(): void;
}

/**
 * Listens and hands out raw {@linkcode ByteStream}s, with no framing: for protocols that manage
 * their own decoding.
 *
 * @param options Where to listen, and which socket API to use.
 * @returns The listener.
 * @throws {ListenError} Naming the address, when it cannot listen (address in use...).
 *
 * @example
 * ```ts
 * import { listenStreams } from "@nianbao/framed";
 *
 * const listener = await listenStreams({ port: 0 });
 * if (listener.address.port === 0) throw new Error("the real port is known once listening");
 * listener.close();
 * ```
 */
export function listenStreams(
  options?: TcpListenOptions & ProxyProtocolOptions & { api?: SocketApi },
): Promise<ByteListener<NetAddress>>;
/**
 * Listens on a unix domain socket and hands out raw {@linkcode ByteStream}s. A socket file left by
 * a dead process is taken over; a live one fails with EADDRINUSE.
 *
 * @param options The socket file's `path`, and which socket API to use.
 * @returns The listener; its address prints as `unix:PATH`.
 * @throws {ListenError} Naming `unix:PATH`, when it cannot listen.
 *
 * @example
 * ```ts
 * import { listenStreams } from "@nianbao/framed";
 *
 * const path = `/tmp/framed-example-${crypto.randomUUID()}.sock`;
 * const listener = await listenStreams({ path });
 * if (`${listener.address}` !== `unix:${path}`) throw new Error(`${listener.address}`);
 * listener.close();
 * ```
 */
export function listenStreams(
  options: UnixListenOptions & { api?: SocketApi },
): Promise<ByteListener<UnixAddress>>;
/**
 * Listens where `options` says, when that is only known at run time (a TCP port or a unix path
 * from a command line): the listener's address is then either kind.
 *
 * @param options A TCP address (with `tls` or not) or a unix socket `path`.
 * @returns The listener; narrow its address with `address.transport`.
 * @throws {ListenError} Naming the address, when it cannot listen.
 *
 * @example
 * ```ts
 * import { listenStreams, type ListenStreamsOptions } from "@nianbao/framed";
 *
 * const where: ListenStreamsOptions = Math.random() < 2 ? { port: 0 } : { path: "/tmp/x.sock" };
 * const listener = await listenStreams(where);
 * if (listener.address.transport !== "tcp") throw new Error("asked for TCP");
 * listener.close();
 * ```
 */
export function listenStreams(
  options: ListenStreamsOptions & ProxyProtocolOptions & { api?: SocketApi },
): Promise<ByteListener<Address>>;
export async function listenStreams(
  options: ListenStreamsOptions & ProxyProtocolOptions & { api?: SocketApi } = {},
): Promise<ByteListener> {
  checkProxyOptions(options);
  const adapter = await loadStreamAdapter(options.api);
  return withProxyProtocol(await adapter.listenStreams(options), options);
}

/**
 * Listens for framed connections over TCP, or TLS with `tls: { cert, key }`. Iterating over the
 * listener ends only when it is closed: a peer that resets before it is accepted, whose TLS
 * handshake fails, or whose PROXY header is refused (with `proxyProtocol`), is skipped, and
 * running out of file descriptors (EMFILE) pauses accepting briefly (10 ms, doubling up to 1 s)
 * instead of ending the loop.
 *
 * @param options Where to listen, the framing, backpressure and timeouts.
 * @returns A listener; iterate over it to accept connections.
 * @throws {ListenError} Naming the address, when it cannot listen.
 *
 * @example One connection, echoed
 * ```ts
 * import { connect, listen } from "@nianbao/framed";
 *
 * await using listener = await listen({ port: 0 });
 * const client = await connect({ port: listener.address.port });
 * for await (const conn of listener) {
 *   await client.writeFrame(new Uint8Array([1, 2, 3]));
 *   conn.write((await conn.readFrame())!);
 *   if (String(await client.readFrame()) !== "1,2,3") throw new Error("no echo");
 *   await Promise.all([conn.close(), client.close()]); // each waits for the other's end
 *   break;
 * }
 * ```
 */
export function listen<T = Uint8Array>(
  options?: TcpListenOptions & ListenFramingOptions<T>,
): Promise<FramedListener<T, NetAddress>>;
/**
 * Listens for framed connections on a unix domain socket; otherwise as over TCP.
 *
 * @param options The socket file's `path`, the framing, backpressure and timeouts.
 * @returns A listener; iterate over it to accept connections.
 * @throws {ListenError} Naming `unix:PATH`, when it cannot listen.
 *
 * @example
 * ```ts
 * import { connect, listen } from "@nianbao/framed";
 *
 * const path = `/tmp/framed-example-${crypto.randomUUID()}.sock`;
 * await using listener = await listen({ path });
 * await using client = await connect({ path });
 * const server = (await listener.accept())!;
 * await client.writeFrame(new Uint8Array([9]));
 * if (String(await server.readFrame()) !== "9") throw new Error("nothing arrived");
 * await server.close();
 * ```
 */
export function listen<T = Uint8Array>(
  options: UnixListenOptions & ListenFramingOptions<T>,
): Promise<FramedListener<T, UnixAddress>>;
/**
 * Listens for framed connections where `options` says, when that is only known at run time: the
 * listener's address is then either kind.
 *
 * @param options A TCP address (with `tls` or not) or a unix socket `path`, and the framing.
 * @returns A listener; narrow its address with `address.transport`.
 * @throws {ListenError} Naming the address, when it cannot listen.
 *
 * @example
 * ```ts
 * import { listen, type ListenOptions } from "@nianbao/framed";
 *
 * const where: ListenOptions<Uint8Array> = Math.random() < 2 ? { port: 0 } : { path: "/tmp/x.sock" };
 * await using listener = await listen(where);
 * console.log(`listening on ${listener.address}`);
 * ```
 */
export function listen<T = Uint8Array>(
  options: ListenOptions<T>,
): Promise<FramedListener<T, Address>>;
export async function listen<T = Uint8Array>(
  options: ListenOptions<T> = {},
): Promise<FramedListener<T, Address>> {
  const { signal } = options;
  checkProxyOptions(options);
  const adapter = await loadStreamAdapter(options.api);
  signal?.throwIfAborted();
  const bound = withProxyProtocol(await adapter.listenStreams(options), options);
  if (signal?.aborted) {
    bound.close();
    throw signal.reason;
  }
  const stop = () => bound.close();
  signal?.addEventListener("abort", stop, { once: true });
  // Closed by either: the signal's listener goes with it, so a long-lived signal does not pin it.
  const listener: ByteListener = {
    address: bound.address,
    accept: () => bound.accept(),
    close() {
      signal?.removeEventListener("abort", stop);
      bound.close();
    },
  };
  const codec = codecOrDefault(options.codec);
  const accept = async (): Promise<FramedConn<T> | null> => {
    const stream = await listener.accept();
    return stream === null ? null : new FramedConn(stream, codec, options);
  };
  return {
    address: listener.address,
    accept,
    close: () => listener.close(),
    [Symbol.asyncDispose]: () => Promise.resolve(listener.close()),
    async *[Symbol.asyncIterator]() {
      // `for await (const conn of listener)` must outlive every peer: a connection that failed
      // before it was accepted is skipped, and an error of the process (EMFILE) is waited out,
      // briefly, instead of ending the loop. `accept()` still throws the latter for callers that
      // want to see it.
      const backoff = new AcceptBackoff();
      for (;;) {
        let conn: FramedConn<T> | null;
        try {
          conn = await accept();
        } catch (error) {
          // A failed TLS handshake or PROXY header is that peer's alone, like a reset: skipped
          // without waiting.
          if (
            !isPeerAcceptError(error) && !(error instanceof TlsError) &&
            !(error instanceof ProxyProtocolError)
          ) {
            backoff.fail();
            await backoff.wait();
          }
          continue;
        }
        if (conn === null) return;
        backoff.succeed();
        yield conn;
      }
    },
  };
}
