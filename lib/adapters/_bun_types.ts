// Internal: the part of Bun's API that framed calls, declared once and structurally (as hono's Bun
// adapter does), so type-checking and publishing need neither `bun-types` nor Deno's view of Bun.
// tests/types/bun_types_check.ts checks every declaration here against `bun-types` (the version
// of the `bun` dev dependency) with `tsc -p tests/types`; a renamed or retyped member fails CI.
//
// Members are function-typed properties, not methods: TypeScript compares a method's parameters
// both ways, so a Bun parameter that narrowed (say, write taking only strings) would pass the check.

/** The `tls` option of `Bun.connect` / `Bun.listen`, as far as framed fills it in. */
export interface BunTlsOptions {
  /** PEM certificate chain (the server's, or the client's for mutual TLS). */
  cert?: string | Uint8Array | Array<string | Uint8Array>;
  /** PEM private key matching `cert`. */
  key?: string | Uint8Array | Array<string | Uint8Array>;
  /** PEM certificates to trust instead of the system's. */
  ca?: string | Uint8Array | Array<string | Uint8Array>;
  /** Passphrase of an encrypted `key`. */
  passphrase?: string;
  /** The name sent as SNI and checked against the server's certificate. */
  serverName?: string;
  /** Whether a certificate that does not verify fails the handshake. */
  rejectUnauthorized?: boolean;
  /** Whether a server asks the client for a certificate. */
  requestCert?: boolean;
  /** ALPN protocols to offer. */
  ALPNProtocols?: string | Uint8Array;
}

/** One TCP, TLS or unix socket of `Bun.connect` / `Bun.listen`; `Data` is its `data` slot. */
export interface BunSocket<Data = undefined> {
  /** Whatever the caller keeps per socket: the `data` option, or what a handler stores. */
  data: Data;
  /** The peer's IP address; null on a unix socket (1.4.5, probed), whatever the types say. */
  readonly remoteAddress: string;
  readonly remotePort: number;
  readonly localAddress: string;
  readonly localPort: number;
  /** The ALPN protocol a TLS handshake chose; `false` (or null) when none was. */
  readonly alpnProtocol: string | false | null;
  /**
   * Writes what the kernel takes now and returns that count; Bun drops the rest (resend it after
   * `drain`). -1 once the socket is closed.
   */
  write: (data: Uint8Array) => number;
  /** Sends FIN and keeps reading; `shutdown(true)` stops reading instead. */
  shutdown: (halfClose?: boolean) => void;
  /** Bun's graceful close (sends FIN), unlike its abortive `terminate()`. */
  end: () => void;
  /** Closes at once with a reset (SO_LINGER 0, then close(2)): for peers being dropped. */
  terminate: () => void;
  /** Stops reading: TCP flow control then holds the peer. */
  pause: () => void;
  /** Reads again after `pause`. */
  resume: () => void;
  /** Sets TCP_NODELAY; returns whether it was set. */
  setNoDelay: (noDelay?: boolean) => boolean;
  /**
   * Arms the idle timer: after `seconds` without I/O the handler's `timeout` runs, 0 disarms it.
   * Bun 1.4.5 (probed: `timeout(1)` fired after 4.0 s, no close in the next 6 s) rounds up to its
   * 4-second tick and does NOT close the socket, whatever its docs say: the handler must.
   */
  timeout: (seconds: number) => void;
  /** Starts TLS on this open socket (STARTTLS); returns the raw and the TLS view of it. */
  upgradeTLS: <UpgradedData>(options: {
    data?: UpgradedData;
    tls: BunTlsOptions | boolean;
    socket: BunSocketHandler<UpgradedData>;
  }) => [raw: BunSocket<UpgradedData>, tls: BunSocket<UpgradedData>];
}

/** The callbacks of one socket; Bun calls them with the socket itself. All are optional. */
export interface BunSocketHandler<Data = unknown> {
  /** The socket connected, or was accepted. */
  open?: (socket: BunSocket<Data>) => void;
  /** Bytes arrived: a fresh Buffer per call (the default `binaryType`). */
  data?: (socket: BunSocket<Data>, chunk: Uint8Array) => void;
  /** The socket can take more after a partial `write`. */
  drain?: (socket: BunSocket<Data>) => void;
  /** The peer sent FIN. */
  end?: (socket: BunSocket<Data>) => void;
  /** The socket closed; `error` is set when it closed because of one (e.g. ECONNRESET). */
  close?: (socket: BunSocket<Data>, error?: Error) => void;
  /** An error on an open socket. */
  error?: (socket: BunSocket<Data>, error: Error) => void;
  /** A client's connect failed. */
  connectError?: (socket: BunSocket<Data>, error: Error) => void;
  /** The idle timer armed by `socket.timeout(seconds)` ran out. */
  timeout?: (socket: BunSocket<Data>) => void;
  /** A TLS handshake finished, verified or not. */
  handshake?: (socket: BunSocket<Data>, success: boolean, authorizationError: Error | null) => void;
}

/** What every `Bun.connect` / `Bun.listen` call takes. */
export interface BunSocketOptions<Data = undefined> {
  socket: BunSocketHandler<Data>;
  /** The initial `socket.data`. */
  data?: Data;
  /** Whether the peer's FIN leaves our side writable (without it, Bun closes both ways). */
  allowHalfOpen?: boolean;
  tls?: BunTlsOptions | boolean;
}

/** `Bun.connect` over TCP (or TLS). */
export interface BunTcpConnectOptions<Data = undefined> extends BunSocketOptions<Data> {
  hostname: string;
  port: number;
}

/** `Bun.listen` over TCP (or TLS). */
export interface BunTcpListenOptions<Data = undefined> extends BunSocketOptions<Data> {
  hostname: string;
  port: number;
  /**
   * SO_REUSEPORT. Missing from bun-types 1.4.5's listen options but honoured by Bun 1.4.5 (probed:
   * a second `reusePort` listener binds the same port, one without it gets EADDRINUSE).
   */
  reusePort?: boolean;
}

/** `Bun.connect` / `Bun.listen` on a unix socket path. */
export interface BunUnixOptions<Data = undefined> extends BunSocketOptions<Data> {
  unix: string;
}

/** What `Bun.listen` returns for every kind of socket. */
export interface BunListener {
  /** Stops accepting; with `true`, also closes the accepted sockets. */
  stop: (closeActiveConnections?: boolean) => void;
}

/** A TCP listener: where it listens. */
export interface BunTcpListener extends BunListener {
  readonly hostname: string;
  readonly port: number;
}

/** A unix socket listener. */
export interface BunUnixListener extends BunListener {
  readonly unix: string;
}

/** An unconnected UDP socket of `Bun.udpSocket`. */
export interface BunUdpSocket {
  readonly hostname: string;
  readonly port: number;
  /** Sends one datagram; false when the kernel's buffer was full and it was dropped. */
  send: (data: Uint8Array, port: number, address: string) => boolean;
  close: () => void;
}

/** The callbacks of a UDP socket. */
export interface BunUdpSocketHandler {
  /** One datagram arrived, in its own Buffer (the default `binaryType`), from `address:port`. */
  data?: (socket: BunUdpSocket, data: Uint8Array, port: number, address: string) => void;
}

/** The options of `Bun.udpSocket` for an unconnected socket. */
export interface BunUdpSocketOptions {
  hostname?: string;
  port?: number;
  socket?: BunUdpSocketHandler;
}

/** The `Bun` global, as far as framed uses it. */
export interface BunRuntime {
  connect: {
    <Data = undefined>(options: BunTcpConnectOptions<Data>): Promise<BunSocket<Data>>;
    <Data = undefined>(options: BunUnixOptions<Data>): Promise<BunSocket<Data>>;
  };
  listen: {
    <Data = undefined>(options: BunTcpListenOptions<Data>): BunTcpListener;
    <Data = undefined>(options: BunUnixOptions<Data>): BunUnixListener;
  };
  udpSocket: (options: BunUdpSocketOptions) => Promise<BunUdpSocket>;
}

/** The `Bun` global; only an adapter that runs in Bun calls this. */
export function bun(): BunRuntime {
  return (globalThis as unknown as { Bun: BunRuntime }).Bun;
}
