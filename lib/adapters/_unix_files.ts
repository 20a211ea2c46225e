// Internal: the file checks of a stale unix socket takeover (lib/_unix_socket.ts), through
// node:fs, for the adapters that run where node:fs exists (Bun's and node:net's).

import { lstatSync, unlinkSync } from "node:fs";

/** Whether `path` is a socket file (false when it is missing or anything else). */
export function isSocketFile(path: string): boolean {
  try {
    return lstatSync(path).isSocket();
  } catch {
    return false;
  }
}

/** Removes the file at `path`. */
export function removeFile(path: string): void {
  unlinkSync(path);
}
