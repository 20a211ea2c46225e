/**
 * `serve` and `serveListener`: the accept loop, every connection handled concurrently and in
 * isolation, and a graceful shutdown.
 *
 * @module
 */

import { AcceptBackoff, isPeerAcceptError } from "./_accept_backoff.ts";
import { codecOrDefault } from "./_default_codec.ts";
import type { TcpListenOptions, UnixListenOptions } from "./adapter.ts";
import type { Address, ByteListener, NetAddress, UnixAddress } from "./byte_stream.ts";
import { ProxyProtocolError, TlsError } from "./errors.ts";
import type { Codec } from "./codec.ts";
import { FramedConn, type FramedConnOptions } from "./framed_conn.ts";
import type { ListenFramingOptions, ListenOptions } from "./listen.ts";
import { checkProxyOptions, withProxyProtocol } from "./_proxy_listener.ts";
import { loadStreamAdapter } from "./runtime.ts";

/** Options of {@linkcode serveListener} (and of `serve`, which adds where to listen). */
export interface ServeHandlerOptions<T> extends FramedConnOptions {
  /** The framing every connection uses. */
  codec: Codec<T>;
  /**
   * Serves one connection. When it returns, pending writes are flushed and the connection is
   * closed. When it throws, that connection alone is closed and the error goes to `onError`.
   */
  handler: (conn: FramedConn<T>) => void | Promise<void>;
  /** Aborting it shuts the server down gracefully (see {@linkcode Server.shutdown}). */
  signal?: AbortSignal;
  /**
   * Receives every per-connection failure (bad frame, peer reset, handler throw) with its
   * connection; a failed TLS handshake (`TlsError`, naming the peer) or a refused PROXY header
   * (`ProxyProtocolError`, naming the peer) with `null`, since that connection never reached the
   * handler; and accept failures of the process (such as EMFILE, out of file descriptors) with
   * `null`, once per burst while accepting backs off. A peer that
   * resets before it is accepted is skipped silently. Default: `console.error`.
   */
  onError?: (error: unknown, conn: FramedConn<T> | null) => void;
}

/**
 * A running server. `await using server = await serve(...)` shuts it down at the end of the scope.
 * `A` is where it listens: a {@linkcode NetAddress} (TCP, TLS) or a {@linkcode UnixAddress}.
 */
export interface Server<A extends Address = NetAddress> extends AsyncDisposable {
  /** Where it listens; `port` is the real port when 0 was asked for. */
  readonly address: A;
  /** Connections being handled right now. */
  readonly connections: number;
  /** Resolves when the server has shut down and every handler has finished. */
  readonly finished: Promise<void>;
  /**
   * Stops accepting; ends reading on every connection after the frames already received (which
   * are still delivered to handlers); waits for handlers to finish and their writes to flush.
   */
  shutdown(): Promise<void>;
}

/**
 * Serves framed connections from any {@linkcode ByteListener}. Use `serve()` from the package root
 * to listen and serve in one call on the running runtime.
 *
 * @param listener Where connections come from.
 * @param options The codec, the handler and error reporting.
 * @returns The running server.
 *
 * @example An echo server on Deno's native sockets
 * ```ts
 * import { lengthPrefix, listenStreams, serveListener } from "@nianbao/framed";
 *
 * const server = serveListener(await listenStreams({ port: 0 }), {
 *   codec: lengthPrefix(),
 *   handler: async (conn) => {
 *     for await (const frame of conn) conn.write(frame);
 *   },
 * });
 * await server.shutdown();
 * ```
 */
export function serveListener<T, A extends Address>(
  listener: ByteListener<A>,
  options: ServeHandlerOptions<T>,
): Server<A> {
  const { codec, handler, signal } = options;
  const onError = options.onError ?? ((error: unknown) => console.error("framed:", error));
  const active = new Set<FramedConn<T>>();
  const handlers = new Set<Promise<void>>();
  let stopping = false;
  // Ends a backoff wait as soon as shutdown() is called, whether or not the user gave a signal.
  const stopped = new AbortController();

  const report = (error: unknown, conn: FramedConn<T> | null) => {
    try {
      onError(error, conn);
    } catch {
      // An onError that throws must not take the server down.
    }
  };

  const handle = async (conn: FramedConn<T>) => {
    let failed = false;
    try {
      await handler(conn);
    } catch (error) {
      failed = true;
      report(error, conn);
    }
    try {
      // Graceful: replies the handler wrote are sent before the connection is released.
      await conn.close();
    } catch (error) {
      if (!failed) report(error, conn);
    } finally {
      active.delete(conn);
    }
  };

  const acceptLoop = async () => {
    const backoff = new AcceptBackoff();
    while (!stopping) {
      let stream;
      try {
        stream = await listener.accept();
      } catch (error) {
        // A peer that reset before it was accepted costs nothing: never wait, never report. A
        // failed TLS handshake or PROXY header is that peer's alone: reported, never waited
        // for. Only an error
        // of the process (EMFILE) waits, briefly, and is reported once per burst.
        if (isPeerAcceptError(error)) continue;
        if (error instanceof TlsError || error instanceof ProxyProtocolError) {
          report(error, null);
          continue;
        }
        if (backoff.fail()) report(error, null);
        await backoff.wait(stopped.signal);
        continue;
      }
      backoff.succeed();
      if (stream === null) break;
      const conn = new FramedConn(stream, codec, options);
      if (stopping) {
        conn.abort();
        break;
      }
      active.add(conn);
      const running = handle(conn);
      handlers.add(running);
      void running.then(() => handlers.delete(running));
    }
  };

  const accepting = acceptLoop();
  const finished = (async () => {
    await accepting;
    while (handlers.size > 0) await Promise.all(handlers);
  })();

  const shutdown = (): Promise<void> => {
    if (!stopping) {
      stopping = true;
      stopped.abort();
      listener.close();
      for (const conn of active) conn.stopReading();
    }
    return finished;
  };

  if (signal !== undefined) {
    if (signal.aborted) void shutdown();
    else signal.addEventListener("abort", () => void shutdown(), { once: true });
  }

  return {
    address: listener.address,
    get connections() {
      return active.size;
    },
    finished,
    shutdown,
    [Symbol.asyncDispose]: shutdown,
  };
}

/** What {@linkcode serve} adds to where it listens: the framing, the handler, error reporting. */
export type ServeHandlingOptions<T> =
  & Omit<ListenFramingOptions<T>, "codec" | "signal">
  & Omit<ServeHandlerOptions<T>, "codec">
  & { codec?: Codec<T> };

/**
 * What {@linkcode serve} calls once it listens. `A` is the kind of address: a
 * {@linkcode NetAddress} for TCP and TLS, a {@linkcode UnixAddress} for a unix socket.
 */
export interface ServeListenOptions<A extends Address = Address> {
  /**
   * Called once, as soon as the server listens, with its address (the real port when 0 was
   * asked for), before `serve()` resolves. Default: nothing, and nothing is printed (unlike
   * Deno's own `serve`, whose default prints "Listening on ..."): a library leaves the program's
   * output to the program. If it throws, the server shuts down and `serve()` rejects with that.
   */
  onListen?: (address: A) => void;
}

/**
 * Options of {@linkcode serve}: where to listen (TCP `port`, with `tls` or not, or a unix socket
 * `path`), the framing, the handler and error reporting.
 */
export type ServeOptions<T> = ListenOptions<T> & ServeHandlingOptions<T> & ServeListenOptions;

/**
 * Listens and serves, over TCP or, with `tls: { cert, key }`, TLS: every connection runs
 * `handler` concurrently; a bad frame, a peer reset, a failed handshake or a handler throw closes
 * only that connection and reaches `onError`. Binds 127.0.0.1 unless told otherwise. Abort `signal` (or call `shutdown()`, or leave an `await using` scope) to stop
 * gracefully.
 *
 * @param options Where to listen, the framing, the handler and error reporting.
 * @returns The running server.
 * @throws {ListenError} Naming the address, when it cannot listen.
 *
 * @example A framed echo server, in Deno, Bun or Node
 * ```ts
 * import { connect, serve } from "@nianbao/framed";
 *
 * const server = await serve({
 *   port: 0, // any free port; see server.address.port
 *   handler: async (conn) => {
 *     for await (const frame of conn) conn.write(frame);
 *   },
 * });
 * const client = await connect({ port: server.address.port });
 * await client.writeFrame(new Uint8Array([7]));
 * if (String(await client.readFrame()) !== "7") throw new Error("no echo");
 * await client.close();
 * await server.shutdown();
 * ```
 */
export function serve<T = Uint8Array>(
  options: TcpListenOptions & ServeHandlingOptions<T> & ServeListenOptions<NetAddress>,
): Promise<Server<NetAddress>>;
/**
 * Listens on a unix domain socket and serves, as over TCP. A socket file left by a dead process
 * is taken over; a live one fails with EADDRINUSE. The file is removed at shutdown.
 *
 * @param options The socket file's `path`, the framing, the handler and error reporting.
 * @returns The running server; its address prints as `unix:PATH`.
 * @throws {ListenError} Naming `unix:PATH`, when it cannot listen.
 *
 * @example A framed echo server for local clients
 * ```ts
 * import { connect, serve } from "@nianbao/framed";
 *
 * const path = `/tmp/framed-example-${crypto.randomUUID()}.sock`;
 * await using server = await serve({
 *   path,
 *   handler: async (conn) => {
 *     for await (const frame of conn) conn.write(frame);
 *   },
 * });
 * await using client = await connect({ path });
 * await client.writeFrame(new Uint8Array([7]));
 * if (String(await client.readFrame()) !== "7") throw new Error("no echo");
 * ```
 */
export function serve<T = Uint8Array>(
  options: UnixListenOptions & ServeHandlingOptions<T> & ServeListenOptions<UnixAddress>,
): Promise<Server<UnixAddress>>;
/**
 * Listens where `options` says and serves, when that is only known at run time (a TCP port or a
 * unix path from a command line): the server's address is then either kind.
 *
 * @param options A TCP address (with `tls` or not) or a unix socket `path`, the framing, the
 * handler and error reporting.
 * @returns The running server; narrow its address with `address.transport`.
 * @throws {ListenError} Naming the address, when it cannot listen.
 *
 * @example
 * ```ts
 * import { serve, type ServeOptions } from "@nianbao/framed";
 *
 * const where = Math.random() < 2 ? { port: 0 } : { path: "/tmp/x.sock" };
 * const options: ServeOptions<Uint8Array> = { ...where, handler: () => {} };
 * await using server = await serve(options);
 * console.log(`serving on ${server.address}`);
 * ```
 */
export function serve<T = Uint8Array>(options: ServeOptions<T>): Promise<Server<Address>>;
export async function serve<T = Uint8Array>(
  // Each overload narrows the address onListen gets; one of them is called with the real one.
  options: ListenOptions<T> & ServeHandlingOptions<T> & ServeListenOptions<never>,
): Promise<Server<Address>> {
  checkProxyOptions(options);
  const adapter = await loadStreamAdapter(options.api);
  const listener = withProxyProtocol(await adapter.listenStreams(options), options);
  const server = serveListener(listener, { ...options, codec: codecOrDefault(options.codec) });
  try {
    (options.onListen as ((address: Address) => void) | undefined)?.(listener.address);
  } catch (error) {
    await server.shutdown();
    throw error;
  }
  return server;
}
