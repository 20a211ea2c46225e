// Internal: what the adapters share to fill in their runtime's TLS options.

import type { Pem } from "./tls.ts";

/** The default of `TlsListenOptions.handshakeTimeout`. */
export const DEFAULT_HANDSHAKE_TIMEOUT = 10_000;

/** PEM bytes as text (Deno wants strings). */
export function pemText(pem: Pem): string {
  return typeof pem === "string" ? pem : new TextDecoder().decode(pem);
}

/** `ca` as a list of PEM texts. */
export function caList(ca: Pem | Pem[] | undefined): string[] | undefined {
  if (ca === undefined) return undefined;
  return (Array.isArray(ca) ? ca : [ca]).map(pemText);
}

/**
 * Races a client's handshake against its timeout: on timeout `drop` closes the socket (so the
 * runtime's handshake ends too) and the race rejects with an error saying so. A server that
 * accepts TCP and never answers the ClientHello must not hang `connect()` or `startTls()`.
 */
export async function handshakeWithin<T>(
  ms: number,
  handshake: Promise<T>,
  drop: () => void,
): Promise<T> {
  let timer: ReturnType<typeof setTimeout> | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => {
      // Reject first: dropping the socket may reject the handshake at once, with a vaguer error.
      reject(new Error(`no handshake within ${ms} ms`));
      drop();
    }, ms);
  });
  // Whichever loses, its rejection is expected.
  handshake.catch(() => {});
  try {
    return await Promise.race([handshake, timeout]);
  } finally {
    clearTimeout(timer);
  }
}
