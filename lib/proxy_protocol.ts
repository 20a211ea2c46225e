/**
 * The PROXY protocol (HAProxy's, versions 1 and 2) on the server side: behind HAProxy, nginx
 * `stream` or a cloud load balancer, the TCP peer is the proxy; the header it sends first names the
 * original client. `listen`, `serve` and `listenStreams` read it with `proxyProtocol` set.
 *
 * @module
 */

import type { NetAddress } from "./byte_stream.ts";

/** Which PROXY header a listener expects: text (`"v1"`), binary (`"v2"`), or either (`"any"`). */
export type ProxyProtocolVersion = "v1" | "v2" | "any";

/**
 * The PROXY protocol options of `listen`, `serve` and `listenStreams` (TCP without TLS only).
 * With `proxyProtocol` set, every accepted connection must begin with a PROXY header: it is read
 * and checked before the connection is handed out, and every byte after it is the first byte of
 * the connection's data. A connection without a valid, complete header within `proxyTimeout` is
 * closed and becomes a `ProxyProtocolError` (reported to `serve`'s `onError` with `null`, skipped
 * by `for await` over `listen()`). Off by default: a header from an untrusted peer would let it
 * claim any address.
 *
 * @example Serving behind HAProxy (`server app 127.0.0.1:9000 send-proxy-v2`)
 * ```ts
 * import { serve, type ProxyProtocolOptions } from "@nianbao/framed";
 *
 * const proxied: ProxyProtocolOptions = { proxyProtocol: "v2", proxyTimeout: 3000 };
 * await using server = await serve({
 *   port: 0,
 *   ...proxied,
 *   handler: (conn) => console.log(`connection from ${conn.remoteAddress}`),
 * });
 * ```
 */
export interface ProxyProtocolOptions {
  /** Expect a PROXY header on every connection: `"v1"`, `"v2"` or `"any"`. Default: none. */
  proxyProtocol?: ProxyProtocolVersion;
  /** How long a connection may take to send its whole header, in ms. Default 5000. */
  proxyTimeout?: number;
}

/**
 * What a connection's PROXY header said: `conn.proxy` (and `stream.proxy`) on a listener with
 * `proxyProtocol`. For `"PROXY"` with known addresses, `conn.remoteAddress` is `source`, the
 * original client; for `"LOCAL"` (the proxy's own health checks) and for headers without usable
 * addresses (v1 `UNKNOWN`, v2 `AF_UNSPEC` or `AF_UNIX`), `source` and `destination` are `null`
 * and `remoteAddress` stays the socket's peer.
 *
 * @example
 * ```ts
 * import { netAddress, type ProxyInfo } from "@nianbao/framed";
 *
 * const info: ProxyInfo = {
 *   version: 1,
 *   command: "PROXY",
 *   source: netAddress("192.0.2.7", 51000),
 *   destination: netAddress("198.51.100.1", 443),
 *   proxyAddress: netAddress("127.0.0.1", 40000),
 * };
 * if (`${info.source}` !== "192.0.2.7:51000") throw new Error("wrong client");
 * ```
 */
export interface ProxyInfo {
  /** The header's version: 1 (text) or 2 (binary). */
  readonly version: 1 | 2;
  /** `"PROXY"` for a relayed connection; `"LOCAL"` for one the proxy made itself. */
  readonly command: "PROXY" | "LOCAL";
  /** The original client, or `null` when the header carries no usable address. */
  readonly source: NetAddress | null;
  /** The address the client connected to (on the proxy), or `null` like `source`. */
  readonly destination: NetAddress | null;
  /** The proxy's own address: the socket's real peer. */
  readonly proxyAddress: NetAddress;
}

/**
 * The longest v1 header (the text line, CRLF included), as the specification bounds it.
 *
 * @example
 * ```ts
 * import { PROXY_V1_MAX_LENGTH } from "@nianbao/framed";
 *
 * if (PROXY_V1_MAX_LENGTH !== 107) throw new Error("the specification says 107");
 * ```
 */
export const PROXY_V1_MAX_LENGTH: number = 107;

/**
 * The most address and TLV bytes a v2 header may announce here (the format allows 65535): a
 * header announcing more is refused before anything is buffered for it. Real proxies send a few
 * dozen bytes (addresses plus small TLVs such as AWS's VPC endpoint id).
 *
 * @example
 * ```ts
 * import { PROXY_V2_MAX_LENGTH } from "@nianbao/framed";
 *
 * if (PROXY_V2_MAX_LENGTH < 216) throw new Error("must fit two unix socket addresses");
 * ```
 */
export const PROXY_V2_MAX_LENGTH: number = 4096;
