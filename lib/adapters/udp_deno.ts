/**
 * UDP on Deno: `Deno.listenDatagram({ transport: "udp" })`. It is an unstable API: run with
 * `--unstable-net` (this repository's deno.json turns it on with `"unstable": ["net"]`).
 *
 * @module
 */

import type { NetAddress } from "../byte_stream.ts";
import { checkDatagram, type Datagram, type DatagramSocket } from "../datagram.ts";

/**
 * Binds a UDP socket with `Deno.listenDatagram`.
 *
 * @param options Where to bind; port 0 picks a free port.
 * @returns The socket.
 *
 * @example
 * ```ts ignore
 * import { bindDatagram } from "@nianbao/framed/udp-deno";
 *
 * const socket = await bindDatagram({ port: 0 });
 * ```
 */
export function bindDatagram(
  options: { hostname?: string; port?: number } = {},
): Promise<DatagramSocket> {
  const conn = Deno.listenDatagram({
    hostname: options.hostname ?? "127.0.0.1",
    port: options.port ?? 0,
    transport: "udp",
  });
  const addr = conn.addr as Deno.NetAddr;
  let closed = false;
  return Promise.resolve({
    address: { hostname: addr.hostname, port: addr.port },
    async send(data: Uint8Array, to: NetAddress): Promise<void> {
      checkDatagram(data);
      await conn.send(data, { transport: "udp", hostname: to.hostname, port: to.port });
    },
    async receive(): Promise<Datagram | null> {
      if (closed) return null;
      try {
        // A fresh buffer per datagram: the payload is handed out and must stay valid.
        const [data, from] = await conn.receive(new Uint8Array(65_536));
        const remote = from as Deno.NetAddr;
        return { data, remote: { hostname: remote.hostname, port: remote.port } };
      } catch (error) {
        if (closed) return null;
        throw error;
      }
    },
    close(): void {
      if (closed) return;
      closed = true;
      conn.close();
    },
  });
}
