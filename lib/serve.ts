/**
 * The accept loop: every connection handled concurrently and in isolation, graceful shutdown.
 *
 * @module
 */

import type { ByteListener, NetAddress } from "./byte_stream.ts";
import type { Codec } from "./codec.ts";
import { FramedConn, type FramedConnOptions } from "./framed_conn.ts";

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
   * connection, and accept failures with `null`. Default: `console.error`.
   */
  onError?: (error: unknown, conn: FramedConn<T> | null) => void;
}

/** A running server. */
export interface Server {
  /** Where it listens; `port` is the real port when 0 was asked for. */
  readonly address: NetAddress;
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

const ACCEPT_RETRY_MS = 100;

/**
 * Serves framed connections from any {@linkcode ByteListener}. Use `serve()` from the package root
 * to listen and serve in one call on the running runtime.
 *
 * @param listener Where connections come from.
 * @param options The codec, the handler and error reporting.
 * @returns The running server.
 *
 * @example An echo server on Deno's native sockets
 * ```ts ignore
 * import { lengthPrefix, serveListener } from "@nianbao/framed";
 * import { listenStreams } from "@nianbao/framed/deno";
 *
 * const server = serveListener(await listenStreams({ port: 9000 }), {
 *   codec: lengthPrefix(),
 *   handler: async (conn) => {
 *     for await (const frame of conn) conn.write(frame);
 *   },
 * });
 * ```
 */
export function serveListener<T>(listener: ByteListener, options: ServeHandlerOptions<T>): Server {
  const { codec, handler, signal } = options;
  const onError = options.onError ?? ((error: unknown) => console.error("framed:", error));
  const active = new Set<FramedConn<T>>();
  const handlers = new Set<Promise<void>>();
  let stopping = false;

  const report = (error: unknown, conn: FramedConn<T> | null) => {
    try {
      onError(error, conn);
    } catch {
      // An onError that throws must not take the server down.
    }
  };

  const handle = async (conn: FramedConn<T>) => {
    try {
      await handler(conn);
      await conn.flush();
    } catch (error) {
      report(error, conn);
    } finally {
      conn.close();
      active.delete(conn);
    }
  };

  const acceptLoop = async () => {
    while (!stopping) {
      let stream;
      try {
        stream = await listener.accept();
      } catch (error) {
        report(error, null);
        await new Promise((resolve) => setTimeout(resolve, ACCEPT_RETRY_MS));
        continue;
      }
      if (stream === null) break;
      const conn = new FramedConn(stream, codec, options);
      if (stopping) {
        conn.close();
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
  };
}
