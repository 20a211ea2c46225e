/**
 * UDP on `node:dgram`, in Node, Deno and Bun.
 *
 * node:dgram emits every datagram as a `message` event and cannot be paused, so received datagrams
 * wait in a queue bounded in bytes; past the bound, new ones are dropped and counted.
 *
 * @module
 */

import type { DatagramAdapter } from "../adapter.ts";
import * as dgram from "node:dgram";
import { datagramQueue } from "../_datagram_queue.ts";
import {
  type BindDatagramOptions,
  checkDatagram,
  type DatagramSocket,
  type DatagramTarget,
  type ReceiveOptions,
} from "../datagram.ts";
import { netAddress } from "../net_address.ts";

/**
 * Binds a UDP socket with `node:dgram`.
 *
 * @param options Where to bind (port 0 picks a free port), and the receive queue's bound.
 * @returns The socket, once bound.
 *
 * @example
 * ```ts ignore
 * import { bindDatagram } from "@nianbao/framed/udp-node";
 *
 * const socket = await bindDatagram({ port: 0, receiveQueueBytes: 1024 * 1024 });
 * ```
 */
export async function bindDatagram(options: BindDatagramOptions = {}): Promise<DatagramSocket> {
  const queue = datagramQueue(options.receiveQueueBytes);
  const socket = dgram.createSocket("udp4");
  socket.on("message", (data: Uint8Array, remote: dgram.RemoteInfo) => {
    // Deno's node:dgram hands each message a view into its own 64 KiB buffer (2.9.6, probed: a
    // 3-byte message has buffer.byteLength 65,536); copy such views so the queue holds what it
    // counts. Node and Bun give each message an exact-size buffer (probed): keep it as it is.
    const owned = data.byteOffset === 0 && data.buffer.byteLength === data.byteLength;
    queue.push({
      data: owned ? new Uint8Array(data.buffer, 0, data.byteLength) : new Uint8Array(data),
      remote: netAddress(remote.address, remote.port, "udp"),
    });
  });
  socket.on("error", () => {}); // a UDP send error concerns one datagram, never the socket
  await new Promise<void>((resolve, reject) => {
    socket.once("error", reject);
    socket.bind(options.port ?? 0, options.hostname ?? "127.0.0.1", () => {
      socket.off("error", reject);
      resolve();
    });
  });
  const address = socket.address();
  let closed = false;
  return {
    address: netAddress(address.address, address.port, "udp"),
    get dropped(): number {
      return queue.dropped;
    },
    send(data: Uint8Array, to: DatagramTarget): Promise<void> {
      checkDatagram(data);
      return new Promise((resolve, reject) =>
        socket.send(data, to.port, to.hostname, (error) => (error ? reject(error) : resolve()))
      );
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
 * import { datagramAdapter } from "@nianbao/framed/udp-node";
 *
 * const socket = await datagramAdapter.bindDatagram({ port: 0 });
 * ```
 */
export const datagramAdapter: DatagramAdapter = { bindDatagram };
