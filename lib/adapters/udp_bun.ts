/**
 * UDP on Bun: `Bun.udpSocket`. Bun's types are declared here structurally.
 *
 * @module
 */

import { WaitQueue } from "../_wait_queue.ts";
import type { NetAddress } from "../byte_stream.ts";
import { checkDatagram, type Datagram, type DatagramSocket } from "../datagram.ts";

interface BunUdpSocket {
  readonly hostname: string;
  readonly port: number;
  send(data: Uint8Array, port: number, address: string): boolean;
  close(): void;
}

interface BunUdpRuntime {
  udpSocket(options: {
    hostname: string;
    port: number;
    socket: { data(socket: BunUdpSocket, data: Uint8Array, port: number, address: string): void };
  }): Promise<BunUdpSocket>;
}

/**
 * Binds a UDP socket with `Bun.udpSocket`.
 *
 * @param options Where to bind; port 0 picks a free port.
 * @returns The socket.
 *
 * @example
 * ```ts ignore
 * import { bindDatagram } from "@nianbao/framed/udp-bun";
 *
 * const socket = await bindDatagram({ port: 0 });
 * ```
 */
export async function bindDatagram(
  options: { hostname?: string; port?: number } = {},
): Promise<DatagramSocket> {
  const queue = new WaitQueue<Datagram>(4096);
  const bun = (globalThis as unknown as { Bun: BunUdpRuntime }).Bun;
  const socket = await bun.udpSocket({
    hostname: options.hostname ?? "127.0.0.1",
    port: options.port ?? 0,
    socket: {
      data(_socket, data, port, address) {
        queue.push({ data: new Uint8Array(data), remote: { hostname: address, port } });
      },
    },
  });
  let closed = false;
  return {
    address: { hostname: socket.hostname, port: socket.port },
    send(data: Uint8Array, to: NetAddress): Promise<void> {
      checkDatagram(data);
      // false means the kernel's buffer was full and the datagram was dropped: UDP promises nothing.
      socket.send(data, to.port, to.hostname);
      return Promise.resolve();
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
