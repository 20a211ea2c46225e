/**
 * Addresses that print the way people write them: `127.0.0.1:9000`, `[::1]:9000`,
 * `unix:/run/app.sock`. Every adapter builds its {@linkcode Address} values here, so
 * `${conn.remoteAddress}` reads well in a log line in every runtime.
 *
 * @module
 */

import type { Address, NetAddress, UnixAddress } from "./byte_stream.ts";

/**
 * Writes an address the way URLs and logs do: IPv6 addresses (any hostname with a colon) go in
 * brackets, so the port cannot be mistaken for part of the address; a unix socket is
 * `unix:PATH`.
 *
 * @param address A host and port (any object with `hostname` and `port` will do), or a unix
 * socket's `{ path }`.
 * @returns `"127.0.0.1:9000"`, `"[::1]:9000"`, `"example.com:80"` or `"unix:/run/app.sock"`.
 *
 * @example
 * ```ts
 * import { formatAddress } from "@nianbao/framed";
 *
 * if (formatAddress({ hostname: "::1", port: 9000 }) !== "[::1]:9000") throw new Error("no brackets");
 * if (formatAddress({ hostname: "127.0.0.1", port: 80 }) !== "127.0.0.1:80") throw new Error("wrong");
 * if (formatAddress({ path: "/tmp/a.sock" }) !== "unix:/tmp/a.sock") throw new Error("not unix:");
 * ```
 */
export function formatAddress(
  address: { readonly hostname: string; readonly port: number } | { readonly path: string },
): string {
  if ("path" in address) return `unix:${address.path}`;
  const { hostname, port } = address;
  return hostname.includes(":") ? `[${hostname}]:${port}` : `${hostname}:${port}`;
}

// One shared function, not one closure per address: addresses are made for every connection.
function addressToString(this: Address): string {
  return formatAddress(this);
}

function printable<A extends Address>(address: Omit<A, "toString">): A {
  Object.defineProperty(address, "toString", { value: addressToString });
  return Object.freeze(address) as A;
}

/**
 * Makes a frozen {@linkcode NetAddress} that prints as `host:port` in template strings. Its
 * `toString` is not enumerable, so the value compares deep-equal to a plain
 * `{ transport, hostname, port }` object and serializes to JSON as one.
 *
 * @param hostname An IP address or host name; IPv6 is written without brackets (`"::1"`).
 * @param port The port.
 * @param transport `"tcp"` (default) or `"udp"`.
 * @returns The address.
 *
 * @example
 * ```ts
 * import { netAddress } from "@nianbao/framed";
 *
 * const address = netAddress("::1", 9000);
 * if (`${address}` !== "[::1]:9000") throw new Error(`printed as ${address}`);
 * if (JSON.stringify(address) !== '{"transport":"tcp","hostname":"::1","port":9000}') {
 *   throw new Error("extra fields");
 * }
 * if (!Object.isFrozen(address)) throw new Error("not frozen");
 * ```
 */
export function netAddress(
  hostname: string,
  port: number,
  transport: "tcp" | "udp" = "tcp",
): NetAddress {
  return printable<NetAddress>({ transport, hostname, port });
}

/**
 * Makes a frozen {@linkcode UnixAddress} that prints as `unix:PATH` in template strings.
 *
 * @param path The socket file's path; `""` for an unnamed socket (the usual client end).
 * @returns The address.
 *
 * @example
 * ```ts
 * import { unixAddress } from "@nianbao/framed";
 *
 * const address = unixAddress("/run/app.sock");
 * if (`${address}` !== "unix:/run/app.sock") throw new Error(`printed as ${address}`);
 * if (address.transport !== "unix") throw new Error("wrong transport");
 * ```
 */
export function unixAddress(path: string): UnixAddress {
  return printable<UnixAddress>({ transport: "unix", path });
}
