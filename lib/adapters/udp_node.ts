/**
 * UDP on `node:dgram`, in Node, Deno and Bun.
 *
 * @module
 */

import * as dgram from "node:dgram";
import { WaitQueue } from "../_wait_queue.ts";
import type { NetAddress } from "../byte_stream.ts";
import { checkDatagram, type Datagram, type DatagramSocket } from "../datagram.ts";

/**
 * Binds a UDP socket with `node:dgram`.
 *
 * @param options Where to bind; port 0 picks a free port.
 * @returns The socket, once bound.
 *
 * @example
 * ```ts ignore
 * import { bindDatagram } from "@nianbao/framed/udp-node";
 *
 * const socket = await bindDatagram({ port: 0 });
 * ```
 */
export async function bindDatagram(
  options: { hostname?: string; port?: number } = {},
): Promise<DatagramSocket> {
  const queue = new WaitQueue<Datagram>(4096);
  const socket = dgram.createSocket("udp4");
  socket.on("message", (data: Uint8Array, remote: dgram.RemoteInfo) => {
    queue.push({
      data: new Uint8Array(data.buffer, data.byteOffset, data.byteLength),
      remote: { hostname: remote.address, port: remote.port },
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
    address: { hostname: address.address, port: address.port },
    send(data: Uint8Array, to: NetAddress): Promise<void> {
      checkDatagram(data);
      return new Promise((resolve, reject) =>
        socket.send(data, to.port, to.hostname, (error) => (error ? reject(error) : resolve()))
      );
    },
    receive: () => queue.next(),
    close(): void {
      if (closed) return;
      closed = true;
      socket.close();
      queue.close();
    },
  };
}
