/**
 * Which runtime this is, and the one place that picks an adapter for it. Adapters are loaded only
 * when used (dynamic import), so importing framed in Deno never loads the Bun adapter, and the
 * reverse; the rest of lib/ never imports an adapter.
 *
 * @module
 */

import type { DatagramAdapter, StreamAdapter } from "./adapter.ts";

/** Which socket API to use: the runtime's own (Deno's or Bun's), or Node's net module. */
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
 *
 * if (!["deno", "bun", "node"].includes(detectRuntime())) throw new Error("unknown runtime");
 * ```
 */
export function detectRuntime(): RuntimeName {
  if ("Bun" in globalThis) return "bun";
  if ("Deno" in globalThis) return "deno";
  return "node";
}

// Node's net module when asked for, or when the runtime is Node; else the runtime's own sockets.
function runtimeFor(api: SocketApi | undefined): RuntimeName {
  return api === "node" ? "node" : detectRuntime();
}

/** @internal The TCP adapter for `api` on this runtime. */
export async function loadStreamAdapter(api?: SocketApi): Promise<StreamAdapter> {
  const runtime = runtimeFor(api);
  if (runtime === "deno") return (await import("./adapters/deno.ts")).streamAdapter;
  if (runtime === "bun") return (await import("./adapters/bun.ts")).streamAdapter;
  return (await import("./adapters/node.ts")).streamAdapter;
}

/** @internal The UDP adapter for `api` on this runtime. */
export async function loadDatagramAdapter(api?: SocketApi): Promise<DatagramAdapter> {
  const runtime = runtimeFor(api);
  if (runtime === "deno") return (await import("./adapters/udp_deno.ts")).datagramAdapter;
  if (runtime === "bun") return (await import("./adapters/udp_bun.ts")).datagramAdapter;
  return (await import("./adapters/udp_node.ts")).datagramAdapter;
}
