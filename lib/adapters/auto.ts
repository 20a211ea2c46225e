/**
 * `connect`, `listen` and `serve` on the running runtime's native sockets (Deno or Bun), or on
 * node:net when asked (`api: "node"`) or when running in Node. Each adapter is loaded only when it
 * is used, so importing framed in Deno never loads the Bun adapter, and the reverse.
 *
 * @module
 */

import { AcceptBackoff, isPeerAcceptError } from "../_accept_backoff.ts";
import type { ByteListener, ByteStream, NetAddress } from "../byte_stream.ts";
import type { Codec } from "../codec.ts";
import type { BindDatagramOptions, DatagramSocket } from "../datagram.ts";
import { FramedConn, type FramedConnOptions } from "../framed_conn.ts";
import { lengthPrefix } from "../length_prefix.ts";
import { type ServeHandlerOptions, serveListener, type Server } from "../serve.ts";

/** Which socket API to use: the runtime's own (`Deno.*`, `Bun.*`) or `node:net`. */
export type SocketApi = "native" | "node";

/** The runtime framed is running in. */
export type RuntimeName = "deno" | "bun" | "node";

/**
 * Tells which runtime this is.
 *
 * @returns `"deno"`, `"bun"` or `"node"`.
 *
 * @example
 * ```ts
 * import { detectRuntime } from "@nianbao/framed";
 * import assert from "node:assert/strict";
 *
 * assert.ok(["deno", "bun", "node"].includes(detectRuntime()));
 * ```
 */
export function detectRuntime(): RuntimeName {
  if ("Bun" in globalThis) return "bun";
  if ("Deno" in globalThis) return "deno";
  return "node";
}

interface Adapter {
  connectStream(
    options: { hostname?: string; port: number; noDelay?: boolean },
  ): Promise<ByteStream>;
  listenStreams(options: {
    hostname?: string;
    port?: number;
    reusePort?: boolean;
    noDelay?: boolean;
  }): Promise<ByteListener>;
}

function loadAdapter(api: SocketApi = "native"): Promise<Adapter> {
  const runtime = api === "node" ? "node" : detectRuntime();
  if (runtime === "deno") return import("./deno.ts");
  if (runtime === "bun") return import("./bun.ts");
  return import("./node.ts");
}

// Without a codec, frames are Uint8Array under lengthPrefix(): the default T.
function codecOrDefault<T>(codec: Codec<T> | undefined): Codec<T> {
  return codec ?? (lengthPrefix() as unknown as Codec<T>);
}

/** Options of {@linkcode connect}. */
export interface ConnectOptions<T> extends FramedConnOptions {
  /** Default `"127.0.0.1"`. */
  hostname?: string;
  /** The port to connect to. */
  port: number;
  /** The framing. Default `lengthPrefix()` (u32be, 16 MiB). */
  codec?: Codec<T>;
  /** `"native"` (default) or `"node"` for node:net. */
  api?: SocketApi;
  /** Disable Nagle's algorithm. Default `true`. */
  noDelay?: boolean;
}

/** Options of {@linkcode listen}. */
export interface ListenOptions<T> extends FramedConnOptions {
  /** Default `"127.0.0.1"`: only this machine can connect. */
  hostname?: string;
  /** Default 0: the system picks a free port. */
  port?: number;
  /** The framing. Default `lengthPrefix()`. */
  codec?: Codec<T>;
  /** `"native"` (default) or `"node"` for node:net. */
  api?: SocketApi;
  /**
   * Let several processes listen on the same port (Linux SO_REUSEPORT); the kernel spreads new
   * connections across them. Deno needs `--unstable-net` for it.
   */
  reusePort?: boolean;
  /** Disable Nagle's algorithm on accepted connections. Default `true`. */
  noDelay?: boolean;
}

/** Options of {@linkcode serve}. */
export type ServeOptions<T> =
  & Omit<ListenOptions<T>, "codec">
  & Omit<ServeHandlerOptions<T>, "codec">
  & { codec?: Codec<T> };

/** A listener of framed connections. */
export interface FramedListener<T> extends AsyncIterable<FramedConn<T>>, AsyncDisposable {
  /** Where it listens. */
  readonly address: NetAddress;
  /** Waits for the next connection; `null` once closed. */
  accept(): Promise<FramedConn<T> | null>;
  /** Stops listening; accepted connections stay open. `await using` calls it too. */
  close(): void;
}

/**
 * Connects and returns the raw {@linkcode ByteStream}, with no framing: for hand-written protocols,
 * baselines, and tests that need to send arbitrary bytes.
 *
 * @param options Where to connect, and which socket API to use.
 * @returns The connected stream.
 *
 * @example
 * ```ts ignore
 * import { connectStream, sendAll } from "@nianbao/framed";
 *
 * const stream = await connectStream({ port: 9000 });
 * await sendAll(stream, new Uint8Array([0, 0, 0, 1, 42]));
 * stream.close();
 * ```
 */
export async function connectStream(
  options: { hostname?: string; port: number; api?: SocketApi; noDelay?: boolean },
): Promise<ByteStream> {
  const adapter = await loadAdapter(options.api);
  return adapter.connectStream(options);
}

/**
 * Listens and hands out raw {@linkcode ByteStream}s, with no framing: for protocols that manage
 * their own decoding (for example streaming a large body to a file).
 *
 * @param options Where to listen, and which socket API to use.
 * @returns The listener.
 *
 * @example
 * ```ts ignore
 * import { listenStreams } from "@nianbao/framed";
 *
 * const listener = await listenStreams({ port: 0 });
 * const stream = await listener.accept();
 * ```
 */
export async function listenStreams(
  options: {
    hostname?: string;
    port?: number;
    api?: SocketApi;
    reusePort?: boolean;
    noDelay?: boolean;
  } = {},
): Promise<ByteListener> {
  const adapter = await loadAdapter(options.api);
  return adapter.listenStreams(options);
}

/**
 * Connects to a framed server.
 *
 * @param options Where to connect, and the framing.
 * @returns The framed connection.
 *
 * @example
 * ```ts ignore
 * import { connect } from "@nianbao/framed";
 *
 * const conn = await connect({ port: 9000 });
 * await conn.writeFrame(new TextEncoder().encode("hello"));
 * console.log(await conn.readFrame());
 * conn.close();
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

/**
 * Listens for framed connections. Iterating over the listener ends only when it is closed: a peer
 * that resets before it is accepted is skipped, and running out of file descriptors (EMFILE)
 * pauses accepting briefly (10 ms, doubling up to 1 s) instead of ending the loop.
 *
 * @param options Where to listen, and the framing.
 * @returns A listener; iterate over it to accept connections.
 *
 * @example
 * ```ts ignore
 * import { listen } from "@nianbao/framed";
 *
 * const listener = await listen({ port: 9000 });
 * for await (const conn of listener) {
 *   (async () => {
 *     for await (const frame of conn) conn.write(frame);
 *     conn.close();
 *   })();
 * }
 * ```
 */
export async function listen<T = Uint8Array>(
  options: ListenOptions<T> = {},
): Promise<FramedListener<T>> {
  const adapter = await loadAdapter(options.api);
  const listener = await adapter.listenStreams(options);
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
          if (!isPeerAcceptError(error)) {
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

/**
 * Listens and serves: every connection runs `handler` concurrently; a bad frame, a peer reset or a
 * handler throw closes only that connection and reaches `onError`. Binds 127.0.0.1 unless told
 * otherwise. Abort `signal` (or call `shutdown()`) to stop gracefully.
 *
 * @param options Where to listen, the framing, the handler and error reporting.
 * @returns The running server.
 *
 * @example A framed echo server, in Deno or Bun
 * ```ts ignore
 * import { serve } from "@nianbao/framed";
 *
 * const server = await serve({
 *   port: 9000,
 *   handler: async (conn) => {
 *     for await (const frame of conn) conn.write(frame);
 *   },
 * });
 * console.log(`listening on ${server.address.port}`);
 * ```
 */
export async function serve<T = Uint8Array>(options: ServeOptions<T>): Promise<Server> {
  const adapter = await loadAdapter(options.api);
  const listener = await adapter.listenStreams(options);
  return serveListener(listener, {
    ...options,
    codec: codecOrDefault(options.codec),
  });
}

/**
 * Binds a UDP socket on the running runtime: `Deno.listenDatagram` (Deno needs `--unstable-net`),
 * `Bun.udpSocket`, or `node:dgram` (`api: "node"`, and in Node). Received datagrams wait in a queue
 * of at most `receiveQueueBytes` (default 4 MiB); past it, new ones are dropped and counted in
 * `dropped`, as a full kernel buffer drops them.
 *
 * @param options Where to bind, the receive queue's bound, and which API to use.
 * @returns The socket.
 *
 * @example
 * ```ts ignore
 * import { bindDatagram } from "@nianbao/framed";
 *
 * const a = await bindDatagram({ port: 0 });
 * const b = await bindDatagram({ port: 0, receiveQueueBytes: 1024 * 1024 });
 * await a.send(new TextEncoder().encode("hello"), b.address);
 * // One datagram, whole; or an AbortError after a second, which leaves the next one for later.
 * console.log(await b.receive({ signal: AbortSignal.timeout(1000) }));
 * ```
 */
export async function bindDatagram(
  options: BindDatagramOptions & { api?: SocketApi } = {},
): Promise<DatagramSocket> {
  const runtime = options.api === "node" ? "node" : detectRuntime();
  const adapter = runtime === "deno"
    ? await import("./udp_deno.ts")
    : runtime === "bun"
    ? await import("./udp_bun.ts")
    : await import("./udp_node.ts");
  return adapter.bindDatagram(options);
}
