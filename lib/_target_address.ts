// Internal: the address an adapter names in a ConnectError or ListenError (and connects to), from
// the options it was given, with the defaults every adapter shares (127.0.0.1, port 0).

import type { ConnectStreamOptions, ListenStreamsOptions } from "./adapter.ts";
import type { NetAddress, UnixAddress } from "./byte_stream.ts";
import { netAddress, unixAddress } from "./net_address.ts";

/** Where `connectStream(options)` connects. */
export function connectAddress(options: ConnectStreamOptions): NetAddress | UnixAddress {
  return options.path !== undefined
    ? unixAddress(options.path)
    : netAddress(options.hostname ?? "127.0.0.1", options.port);
}

/** Where `listenStreams(options)` listens (port 0 until the system has picked one). */
export function listenAddress(options: ListenStreamsOptions): NetAddress | UnixAddress {
  return options.path !== undefined
    ? unixAddress(options.path)
    : netAddress(options.hostname ?? "127.0.0.1", options.port ?? 0);
}
