// Internal: listening on a unix socket path the way a restarted daemon needs. Deno, Bun and
// Node's net module all refuse a path whose socket file is still there (EADDRINUSE), even when the
// process that made it is dead: probed on Deno 2.9.6, Bun 1.4.5 and Node 20.20 (Python bound a
// socket and exited). All three remove the file when their listener closes, so only a process
// that died leaves one behind. framed takes such a file over: when listening fails with
// EADDRINUSE, the path is a socket, and connecting to it is refused (nobody accepts there), the
// file is removed and listening is tried once more. A live socket and any other kind of file are
// left alone and the EADDRINUSE stands. (Two processes taking over the same stale file at the same
// moment can still race; the loser gets EADDRINUSE.)

/** What an adapter provides for {@linkcode listenUnixReclaiming}. */
export interface UnixPathOps {
  /** Whether `path` is a socket file (false when it is missing or anything else). */
  isSocket(path: string): boolean;
  /** Whether a process accepts connections on `path` (connect succeeds, or fails other than refused). */
  isLive(path: string): Promise<boolean>;
  /** Removes the file. */
  remove(path: string): void;
}

function isAddressInUse(error: unknown): boolean {
  return (error as { code?: unknown } | null | undefined)?.code === "EADDRINUSE";
}

/**
 * Calls `listen`; if the path holds a dead process's socket file, removes it and calls `listen`
 * again. Errors are the runtime's own (the caller wraps them in ListenError).
 */
export async function listenUnixReclaiming<L>(
  path: string,
  listen: () => L | Promise<L>,
  ops: UnixPathOps,
): Promise<L> {
  try {
    return await listen();
  } catch (error) {
    if (!isAddressInUse(error) || !ops.isSocket(path) || await ops.isLive(path)) throw error;
    try {
      ops.remove(path);
    } catch {
      throw error;
    }
    return await listen();
  }
}

/** Whether a connect error says nobody listens on the path. */
export function isRefused(error: unknown): boolean {
  return (error as { code?: unknown } | null | undefined)?.code === "ECONNREFUSED";
}
