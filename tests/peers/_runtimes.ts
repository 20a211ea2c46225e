// How the tests run tests/peers/framed_peer.ts under the other JavaScript runtime (Deno or Bun,
// from node_modules/.bin), for the cross-runtime tests of tests/tls_test.ts and
// tests/unix_socket_test.ts.

import { existsSync } from "node:fs";
import { join } from "node:path";
import process from "node:process";
import { detectRuntime } from "../../mod.ts";
import type { Running } from "../_process.ts";

export type PeerRuntime = "deno" | "bun";

const FRAMED_PEER = "tests/peers/framed_peer.ts";

/** The peer runtimes besides the running one: Bun under Deno, Deno under Bun, both under Node. */
export function otherRuntimes(): PeerRuntime[] {
  const runtime = detectRuntime();
  return (["deno", "bun"] as const).filter((other) => other !== runtime);
}

/**
 * Where `other`'s binary is, and whether its tests are skipped: only when it is missing and
 * FRAMED_REQUIRE_ALL_TESTS=1 is not set (CI sets it; there a missing runtime fails the test).
 */
export function peerRuntime(other: PeerRuntime): { binary: string; skip: string | false } {
  const binary = join("node_modules", ".bin", other);
  const missing = !existsSync(binary);
  const requireAll = process.env.FRAMED_REQUIRE_ALL_TESTS === "1";
  const skip = missing && !requireAll ? `${binary} is missing (npm install puts it there)` : false;
  // Deno's and Bun's runners do not print a skip's reason: say it once here.
  if (skip !== false && !announced.has(binary)) {
    announced.add(binary);
    console.log(`skipping the cross-runtime tests with ${other}: ${skip}`);
  }
  return { binary, skip };
}

const announced = new Set<string>();

/** The arguments that run `script` (default tests/peers/framed_peer.ts) under `other` with `args`. */
export function peerArgs(other: PeerRuntime, args: string[], script = FRAMED_PEER): string[] {
  return other === "deno" ? ["run", "-A", script, ...args] : [script, ...args];
}

/** Fails the test when the binary is missing (reached only under FRAMED_REQUIRE_ALL_TESTS=1). */
export function requireBinary(binary: string): void {
  if (!existsSync(binary)) {
    throw new Error(`FRAMED_REQUIRE_ALL_TESTS=1, but ${binary} is missing`);
  }
}

/**
 * Sends SIGTERM to a peer server and waits for its exit code; a peer still running after 30 s is
 * killed, and the result says so (a test comparing it with 0 then fails with that reason).
 */
export async function stopPeer(peer: Running): Promise<number | string> {
  peer.kill("SIGTERM");
  let timer: ReturnType<typeof setTimeout> | undefined;
  const late = new Promise<string>((resolve) => {
    timer = setTimeout(() => resolve("still running 30 s after SIGTERM"), 30_000);
  });
  const outcome = await Promise.race([peer.exited, late]);
  clearTimeout(timer);
  if (typeof outcome === "string" && outcome.startsWith("still running")) peer.kill("SIGKILL");
  return outcome;
}
