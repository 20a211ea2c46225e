/**
 * UDP on Bun: `Bun.udpSocket`. Bun's types are declared structurally in `_bun_types.ts`.
 *
 * Bun pushes every datagram to the `data` callback as it arrives and cannot be paused, so received
 * datagrams wait in a queue bounded in bytes; past the bound, new ones are dropped and counted.
 *
 * @module
 */

import type { DatagramAdapter } from "../adapter.ts";
import { datagramQueue } from "../_datagram_queue.ts";
import {
  type BindDatagramOptions,
  checkDatagram,
  type DatagramSocket,
  type DatagramTarget,
  type ReceiveOptions,
} from "../datagram.ts";
import { netAddress } from "../net_address.ts";
import { bun } from "./_bun_types.ts";

/**
 * Binds a UDP socket with `Bun.udpSocket`.
 *
 * @param options Where to bind (port 0 picks a free port), and the receive queue's bound.
 * @returns The socket.
 *
 * @example
 * ```ts ignore
 * import { bindDatagram } from "@nianbao/framed/udp-bun";
 *
 * const socket = await bindDatagram({ port: 0, receiveQueueBytes: 1024 * 1024 });
 * ```
 */
export async function bindDatagram(options: BindDatagramOptions = {}): Promise<DatagramSocket> {
  const queue = datagramQueue(options.receiveQueueBytes);
  const socket = await bun().udpSocket({
    hostname: options.hostname ?? "127.0.0.1",
    port: options.port ?? 0,
    socket: {
      data(_socket, data, port, address) {
        // Bun hands each datagram its own exact-size Buffer (1.4.5, probed): keep it without a
        // copy. Copy anything else, so the queue never holds more than it counts.
        const owned = data.byteOffset === 0 && data.buffer.byteLength === data.byteLength;
        queue.push({
          data: owned ? new Uint8Array(data.buffer, 0, data.byteLength) : new Uint8Array(data),
          remote: netAddress(address, port, "udp"),
        });
      },
    },
  });
  let closed = false;
  return {
    address: netAddress(socket.hostname, socket.port, "udp"),
    get dropped(): number {
      return queue.dropped;
    },
    send(data: Uint8Array, to: DatagramTarget): Promise<void> {
      checkDatagram(data);
      // false means the kernel's buffer was full and the datagram was dropped: UDP promises nothing.
      socket.send(data, to.port, to.hostname);
      return Promise.resolve();
    },
    receive: (receiveOptions?: ReceiveOptions) => queue.next(receiveOptions?.signal),
    close(): void {
      if (closed) return;
      closed = true;
      socket.close();
      queue.close();
    },
  };
}

/**
 * This adapter as the core's {@linkcode DatagramAdapter} contract: what `bindDatagram` loads.
 *
 * @example
 * ```ts ignore
 * import { datagramAdapter } from "@nianbao/framed/udp-bun";
 *
 * const socket = await datagramAdapter.bindDatagram({ port: 0 });
 * ```
 */
export const datagramAdapter: DatagramAdapter = { bindDatagram };
