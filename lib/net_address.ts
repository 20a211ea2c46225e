/**
 * Addresses that print the way people write them: `127.0.0.1:9000`, `[::1]:9000`. Every adapter
 * builds its {@linkcode NetAddress} values here, so `${conn.remoteAddress}` reads well in a log line
 * in every runtime.
 *
 * @module
 */

import type { NetAddress } from "./byte_stream.ts";

/**
 * Writes a host and port the way URLs and logs do: IPv6 addresses (any hostname with a colon) go in
 * brackets, so the port cannot be mistaken for part of the address.
 *
 * @param address A host and port; any object with `hostname` and `port` will do.
 * @returns `"127.0.0.1:9000"`, `"[::1]:9000"` or `"example.com:80"`.
 *
 * @example
 * ```ts
 * import { formatAddress } from "@nianbao/framed";
 *
 * if (formatAddress({ hostname: "::1", port: 9000 }) !== "[::1]:9000") throw new Error("no brackets");
 * if (formatAddress({ hostname: "127.0.0.1", port: 80 }) !== "127.0.0.1:80") throw new Error("wrong");
 * ```
 */
export function formatAddress(
  address: { readonly hostname: string; readonly port: number },
): string {
  const { hostname, port } = address;
  return hostname.includes(":") ? `[${hostname}]:${port}` : `${hostname}:${port}`;
}

// One shared function, not one closure per address: addresses are made for every connection.
function addressToString(this: NetAddress): string {
  return formatAddress(this);
}

/**
 * Makes a frozen {@linkcode NetAddress} that prints as `host:port` in template strings. Its
 * `toString` is not enumerable, so the value still compares deep-equal to a plain
 * `{ hostname, port }` object and serializes to JSON as one.
 *
 * @param hostname An IP address or host name; IPv6 is written without brackets (`"::1"`).
 * @param port The port.
 * @returns The address.
 *
 * @example
 * ```ts
 * import { netAddress } from "@nianbao/framed";
 *
 * const address = netAddress("::1", 9000);
 * if (`${address}` !== "[::1]:9000") throw new Error(`printed as ${address}`);
 * if (JSON.stringify(address) !== '{"hostname":"::1","port":9000}') throw new Error("extra fields");
 * if (!Object.isFrozen(address)) throw new Error("not frozen");
 * ```
 */
export function netAddress(hostname: string, port: number): NetAddress {
  const address = { hostname, port };
  Object.defineProperty(address, "toString", { value: addressToString });
  return Object.freeze(address) as NetAddress;
}
