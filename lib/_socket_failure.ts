// Internal: how a socket failure reads in a message, for ConnectError, ListenError and the
// errors of a connection that fails while open.

// One source of truth for how an errno reads in a message; other codes keep the runtime's message.
const SOCKET_FAILURES: Readonly<Record<string, string>> = Object.freeze({
  ECONNREFUSED: "connection refused",
  ECONNRESET: "connection reset",
  ETIMEDOUT: "timed out",
  ENOTFOUND: "host not found",
  EAI_AGAIN: "host lookup failed, try again",
  EHOSTUNREACH: "host unreachable",
  ENETUNREACH: "network unreachable",
  EADDRINUSE: "address in use",
  ENOENT: "no such file or directory",
  EADDRNOTAVAIL: "address not available",
  EACCES: "permission denied",
});

// The runtime's errno code (`"ECONNREFUSED"`) when its error carries one: every adapter's runtime
// puts it in a string `code` property (probed on Deno 2.9.6, Bun 1.4.5 and Node's net module).
export function causeCode(cause: unknown): string | undefined {
  const code = (cause as { code?: unknown } | null | undefined)?.code;
  return typeof code === "string" && code !== "" ? code : undefined;
}

/**
 * What went wrong, in words: `connection reset` for ECONNRESET and the other errno codes above,
 * else the runtime's own message.
 */
export function failureReason(cause: unknown): string {
  const code = causeCode(cause);
  return (code === undefined ? undefined : SOCKET_FAILURES[code]) ??
    (cause instanceof Error ? cause.message : String(cause));
}
