/**
 * UDP on Deno: `Deno.listenDatagram({ transport: "udp" })`. It is an unstable API: run with
 * `--unstable-net` (this repository's deno.json turns it on with `"unstable": ["net"]`).
 *
 * Deno's `receive()` cannot be cancelled: a receive abandoned by its caller would still take the
 * next datagram. So one loop receives for the socket from bind to close, into a queue bounded in
 * bytes (past the bound, new datagrams are dropped and counted), and `receive()` reads the queue,
 * where a waiter can give up its place. This is also what Bun and node:dgram do, which push.
 *
 * @module
 */

import type { DatagramAdapter } from "../adapter.ts";
import { datagramQueue } from "../_datagram_queue.ts";
import type { WaitQueue } from "../_wait_queue.ts";
import {
  type BindDatagramOptions,
  checkDatagram,
  type Datagram,
  type DatagramSocket,
  type DatagramTarget,
  type ReceiveOptions,
} from "../datagram.ts";
import { netAddress } from "../net_address.ts";

/**
 * Binds a UDP socket with `Deno.listenDatagram`.
 *
 * @param options Where to bind (port 0 picks a free port), and the receive queue's bound.
 * @returns The socket.
 *
 * @example
 * ```ts ignore
 * import { bindDatagram } from "@nianbao/framed/udp-deno";
 *
 * const socket = await bindDatagram({ port: 0, receiveQueueBytes: 1024 * 1024 });
 * ```
 */
export function bindDatagram(options: BindDatagramOptions = {}): Promise<DatagramSocket> {
  let queue: WaitQueue<Datagram>;
  let conn: Deno.DatagramConn;
  try {
    queue = datagramQueue(options.receiveQueueBytes);
    conn = Deno.listenDatagram({
      hostname: options.hostname ?? "127.0.0.1",
      port: options.port ?? 0,
      transport: "udp",
    });
  } catch (error) {
    // Deno.listenDatagram throws synchronously (AddrInUse): report it as a rejection like the others.
    return Promise.reject(error);
  }
  const addr = conn.addr as Deno.NetAddr;
  const state = { closed: false };
  void receiveLoop(conn, queue, state);
  return Promise.resolve({
    address: netAddress(addr.hostname, addr.port, "udp"),
    get dropped(): number {
      return queue.dropped;
    },
    async send(data: Uint8Array, to: DatagramTarget): Promise<void> {
      checkDatagram(data);
      await conn.send(data, { transport: "udp", hostname: to.hostname, port: to.port });
    },
    receive: (receiveOptions?: ReceiveOptions) => queue.next(receiveOptions?.signal),
    close(): void {
      if (state.closed) return;
      state.closed = true;
      conn.close();
      queue.close();
    },
  });
}

async function receiveLoop(
  conn: Deno.DatagramConn,
  queue: WaitQueue<Datagram>,
  state: { closed: boolean },
): Promise<void> {
  // Deno's receive(buffer) returns a view into `buffer` (2.9.6, probed), so one buffer serves every
  // read and each payload is copied out at its exact size.
  const buffer = new Uint8Array(65_536);
  try {
    for (;;) {
      const [data, from] = await conn.receive(buffer);
      const remote = from as Deno.NetAddr;
      queue.push({ data: data.slice(), remote: netAddress(remote.hostname, remote.port, "udp") });
    }
  } catch (error) {
    // close() makes the pending receive reject (Interrupted or BadResource): that is the end.
    if (state.closed) return;
    state.closed = true;
    try {
      conn.close();
    } catch {
      // Already closed by the runtime.
    }
    // Anything else ends the socket; receive() reports it once the queued datagrams are taken.
    queue.close(error);
  }
}

/**
 * This adapter as the core's {@linkcode DatagramAdapter} contract: what `bindDatagram` loads.
 *
 * @example
 * ```ts ignore
 * import { datagramAdapter } from "@nianbao/framed/udp-deno";
 *
 * const socket = await datagramAdapter.bindDatagram({ port: 0 });
 * ```
 */
export const datagramAdapter: DatagramAdapter = { bindDatagram };
