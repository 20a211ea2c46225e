/**
 * TLS options, the same for every adapter: what a client trusts and checks, what a server
 * presents. Certificates and keys are PEM, as text or bytes. A client always verifies the
 * server's certificate (against `ca`, or the system's roots); there is no switch to turn that off.
 *
 * @module
 */

/** PEM text, or its bytes as read from a file. */
export type Pem = string | Uint8Array;

/**
 * A client's TLS settings: `connect({ port, tls: { ca } })`, or `tls: true` for the system's
 * trusted roots and the hostname as the name to check.
 *
 * @example Trusting a private CA
 * ```ts ignore
 * import { connect } from "@nianbao/framed";
 *
 * const conn = await connect({
 *   hostname: "10.0.0.5",
 *   port: 7443,
 *   tls: { ca: caPem, servername: "db.internal" }, // caPem: the CA certificate's PEM text
 * });
 * ```
 */
export interface TlsConnectOptions {
  /** PEM certificates to trust instead of the system's roots (a private CA, a self-signed cert). */
  ca?: Pem | Pem[];
  /**
   * The name sent as SNI and checked against the server's certificate. Default: `hostname`.
   */
  servername?: string;
  /** ALPN protocols to offer, most preferred first. */
  alpn?: string[];
  /**
   * How long (milliseconds) the handshake may take before the connection is dropped with a
   * `TlsError`, so a server that accepts and never answers cannot hang `connect()`. Default 10,000.
   */
  handshakeTimeout?: number;
}

/**
 * A server's TLS settings: `listen({ port, tls: { cert, key } })`.
 *
 * @example
 * ```ts ignore
 * import { serve } from "@nianbao/framed";
 *
 * await serve({
 *   port: 7443,
 *   tls: { cert: certPem, key: keyPem }, // PEM text or bytes, as read from the files
 *   handler: async (conn) => {
 *     for await (const frame of conn) conn.write(frame);
 *   },
 * });
 * ```
 */
export interface TlsListenOptions {
  /** The certificate chain in PEM, leaf first. */
  cert: Pem;
  /** The private key of the leaf certificate, in PEM (unencrypted). */
  key: Pem;
  /** ALPN protocols to accept, most preferred first. */
  alpn?: string[];
  /**
   * How long (milliseconds) a connection may take to finish its handshake before it is dropped,
   * so peers that connect and say nothing cannot pile up. Default 10,000.
   */
  handshakeTimeout?: number;
}
