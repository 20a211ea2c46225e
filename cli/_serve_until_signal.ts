// The one way a server command (echo, exec-server, file-server) runs and stops.

import process from "node:process";

/** How long stopping may take before the command returns (and the process exits) anyway. */
const STOP_WAIT_MS = 5000;

/**
 * Prints exactly `listening on HOST:PORT` (the first line of the contract), waits for SIGINT or
 * SIGTERM, then lets `stop` clean up (ending connections, killing commands, removing temporary
 * files) for at most STOP_WAIT_MS, and returns: the command exits 0. Also returns when `finished`
 * resolves (the server stopped on its own), and throws when it rejects.
 */
export async function serveUntilSignal(
  address: { hostname: string; port: number },
  stop: () => Promise<void>,
  finished?: Promise<void>,
): Promise<void> {
  console.log(`listening on ${address.hostname}:${address.port}`);
  const signalled = await new Promise<boolean>((resolve, reject) => {
    process.on("SIGINT", () => resolve(true));
    process.on("SIGTERM", () => resolve(true));
    finished?.then(() => resolve(false), reject);
  });
  if (!signalled) return;
  // A client that never stops sending must not hold the exit hostage.
  let timer: ReturnType<typeof setTimeout> | undefined;
  await Promise.race([
    stop().catch(() => {}),
    new Promise((resolve) => (timer = setTimeout(resolve, STOP_WAIT_MS))),
  ]);
  clearTimeout(timer);
}
