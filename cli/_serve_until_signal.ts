// The one way a server command (echo, exec-server, file-server) runs and stops.

import process from "node:process";
import { type Address, formatAddress } from "../mod.ts";

/** How long stopping may take before the command returns (and the process exits) anyway. */
const STOP_WAIT_MS = 5000;

/**
 * The first line of the contract, exactly: `listening on HOST:PORT`, `listening on HOST:PORT
 * (TLS)`, or `listening on unix:PATH`. The port stays the last number before the end of the line
 * or before ` (TLS)`, so that a plain client cannot mistake a TLS server for one it can talk to.
 */
export function listeningLine(address: Address, tls: boolean): string {
  return `listening on ${formatAddress(address)}${tls ? " (TLS)" : ""}`;
}

/**
 * Prints the listening line (see {@linkcode listeningLine}) with `print` (on stdout unless told),
 * waits for SIGINT or SIGTERM, then
 * lets `stop` clean up (ending connections, killing commands, removing temporary files and the
 * unix socket file) for at most STOP_WAIT_MS, and returns: the command exits 0. Also returns when
 * `finished` resolves (the server stopped on its own), and throws when it rejects.
 */
export async function serveUntilSignal(
  listening: { address: Address; tls: boolean },
  stop: () => Promise<void>,
  finished?: Promise<void>,
  print: (line: string) => void = console.log,
): Promise<void> {
  // The handlers go in before the line that tells the world we are up: a SIGTERM sent as soon as
  // it is read killed a Bun file-server (1.4.5, once in a CI run) before they were in place.
  const signalled = new Promise<boolean>((resolve, reject) => {
    process.on("SIGINT", () => resolve(true));
    process.on("SIGTERM", () => resolve(true));
    finished?.then(() => resolve(false), reject);
  });
  print(listeningLine(listening.address, listening.tls));
  if (!(await signalled)) return;
  // A client that never stops sending must not hold the exit hostage.
  let timer: ReturnType<typeof setTimeout> | undefined;
  await Promise.race([
    stop().catch(() => {}),
    new Promise((resolve) => (timer = setTimeout(resolve, STOP_WAIT_MS))),
  ]);
  clearTimeout(timer);
}
