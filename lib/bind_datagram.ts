/**
 * `bindDatagram`: a UDP socket on the running runtime.
 *
 * @module
 */

import type { BindDatagramOptions, DatagramSocket } from "./datagram.ts";
import { loadDatagramAdapter, type SocketApi } from "./runtime.ts";

/**
 * Binds a UDP socket on the running runtime: Deno's `listenDatagram` (Deno needs
 * `--unstable-net`), Bun's `udpSocket`, or Node's dgram module (`api: "node"`, and in Node). Received datagrams wait in a queue
 * of at most `receiveQueueBytes` (default 4 MiB); past it, new ones are dropped and counted in
 * `dropped`, as a full kernel buffer drops them.
 *
 * @param options Where to bind, the receive queue's bound, and which API to use.
 * @returns The socket.
 *
 * @example One datagram, whole; a receive that times out leaves the next one for later
 * ```ts
 * import { bindDatagram } from "@nianbao/framed";
 *
 * const a = await bindDatagram({ port: 0 });
 * const b = await bindDatagram({ port: 0, receiveQueueBytes: 1024 * 1024 });
 * await a.send(new TextEncoder().encode("hello"), b.address);
 * const datagram = await b.receive({ signal: AbortSignal.timeout(5_000) });
 * if (new TextDecoder().decode(datagram!.data) !== "hello") throw new Error("lost it");
 * a.close();
 * b.close();
 * ```
 */
export async function bindDatagram(
  options: BindDatagramOptions & { api?: SocketApi } = {},
): Promise<DatagramSocket> {
  const adapter = await loadDatagramAdapter(options.api);
  return adapter.bindDatagram(options);
}
