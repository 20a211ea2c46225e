// The raw baseline: hand-written socket loops straight on each runtime's API, with no framed code
// in the path, over TCP, TLS and unix sockets. Every framed number in the report is a ratio of
// these (same runtime, API, transport and payload).
//
// TLS is set up the way framed's adapters set it up, so that the ratio measures framing and not a
// different TLS configuration: the same certificates, verification on, the runtime's default
// protocol and cipher, TCP_NODELAY where the runtime lets us set it. Deno's client is
// `Deno.connect` + `setNoDelay` + `Deno.startTls`, as in lib/adapters/deno.ts; Deno's accepted TLS
// connections keep Nagle on, in the raw loop and in framed alike, because `Deno.TlsConn` has no
// `setNoDelay` (Deno 2.9.6 types: TlsConn extends Conn, which has none; checked with `deno types`).

import { readFileSync } from "node:fs";
import * as net from "node:net";
import { join } from "node:path";
import * as tls from "node:tls";
import type { RuntimeName, SocketApi } from "../mod.ts";
import {
  bun,
  type BunSocket as BunSocketOf,
  type BunSocketHandler,
} from "../lib/adapters/_bun_types.ts";
import type { Transport } from "./_cells.ts";

/** The least a hand-written loop needs: write everything, and see every chunk. */
export interface RawConn {
  /** Writes every byte (looping over partial writes as a careful hand-written loop must). */
  write(bytes: Uint8Array): Promise<void>;
  /** Receives chunks; a chunk is only valid during the call (Deno's buffer is reused). */
  onData(callback: (chunk: Uint8Array) => void): void;
  close(): void;
}

/** Where a listener of bench/server.ts is: a loopback port (TCP, TLS) or a socket path (unix). */
export type Endpoint =
  | { transport: "tcp" | "tls"; port: number }
  | { transport: "unix"; path: string };

/** The benchmark's certificates, as PEM text: a CA, and a server certificate it signed. */
export interface TlsPems {
  ca: string;
  cert: string;
  key: string;
}

/** What a TLS client's runtime says it negotiated; null where its API cannot say. */
export interface TlsSessionInfo {
  protocol: string | null;
  cipher: string | null;
}

export interface RawListener {
  endpoint: Endpoint;
  close(): void;
}

/** How to listen: the transport, the socket path for unix, the certificate for TLS. */
export interface RawListenOptions {
  transport: Transport;
  path?: string;
  tls?: TlsPems;
}

const HOST = "127.0.0.1";

type Flavour = "deno" | "bun" | "node";

function flavour(runtime: RuntimeName, api: SocketApi): Flavour {
  return api === "node" ? "node" : runtime;
}

function need<T>(value: T | undefined, what: string): T {
  if (value === undefined) throw new Error(`the raw ${what} endpoint needs its ${what} option`);
  return value;
}

/** A TLS server's certificate and key: what every runtime's listener takes under these names. */
function serverPems(options: RawListenOptions): { cert: string; key: string } {
  const { cert, key } = need(options.tls, "tls");
  return { cert, key };
}

// ── Deno: conn.read into one reused buffer, conn.write in a loop ─────────────────────────────

function denoConn(conn: Deno.Conn): RawConn {
  // Only TCP connections have setNoDelay: not Deno.TlsConn (see the top), not a unix socket.
  (conn as Partial<Deno.TcpConn>).setNoDelay?.(true);
  return {
    async write(bytes) {
      for (let at = 0; at < bytes.length;) at += await conn.write(bytes.subarray(at));
    },
    onData(callback) {
      void (async () => {
        const buffer = new Uint8Array(256 * 1024);
        try {
          for (let n = await conn.read(buffer); n !== null; n = await conn.read(buffer)) {
            callback(buffer.subarray(0, n));
          }
        } catch {
          // The peer went away: the cell is over.
        }
      })();
    },
    close() {
      try {
        conn.close();
      } catch {
        // Already closed.
      }
    },
  };
}

function denoAccept(listener: Deno.Listener, onConn: (conn: RawConn) => void): void {
  void (async () => {
    try {
      for await (const conn of listener) onConn(denoConn(conn));
    } catch {
      // Closed.
    }
  })();
}

function denoListen(options: RawListenOptions, onConn: (conn: RawConn) => void): RawListener {
  if (options.transport === "unix") {
    const path = need(options.path, "unix");
    const listener = Deno.listen({ transport: "unix", path });
    denoAccept(listener, onConn);
    return { endpoint: { transport: "unix", path }, close: () => listener.close() };
  }
  const listener = options.transport === "tls"
    ? Deno.listenTls({ hostname: HOST, port: 0, ...serverPems(options) })
    : Deno.listen({ hostname: HOST, port: 0 });
  // A TLS connection's handshake runs on its first read or write (Deno's TlsListener hands it
  // out before): the raw loop's first read drives it.
  denoAccept(listener, onConn);
  return {
    endpoint: { transport: options.transport, port: listener.addr.port },
    close: () => listener.close(),
  };
}

async function denoConnect(
  endpoint: Endpoint,
  pems: TlsPems | undefined,
): Promise<RawConn & { session?: TlsSessionInfo }> {
  if (endpoint.transport === "unix") {
    return denoConn(await Deno.connect({ transport: "unix", path: endpoint.path }));
  }
  const tcp = await Deno.connect({ hostname: HOST, port: endpoint.port });
  if (endpoint.transport === "tcp") return denoConn(tcp);
  // As lib/adapters/deno.ts does it: Nagle off on the TCP socket, then TLS on top of it.
  tcp.setNoDelay(true);
  const conn = await Deno.startTls(tcp, { hostname: HOST, caCerts: [need(pems, "tls").ca] });
  await conn.handshake(); // Deno.TlsHandshakeInfo names the ALPN protocol only.
  return { ...denoConn(conn), session: { protocol: null, cipher: null } };
}

// ── Bun: data/drain callbacks; keep the tail socket.write did not take and resend it on drain ─

type BunSocket = BunSocketOf<BunRaw>;

// What Bun's TLS sockets also have (bun-types 1.4.5: Socket.getCipher, getTLSVersion), declared
// here since lib/adapters/_bun_types.ts declares only what framed itself calls.
interface BunTlsSocket {
  getCipher?: () => { name?: string; standardName?: string; version?: string };
  getTLSVersion?: () => string;
}

class BunRaw implements RawConn {
  callback: (chunk: Uint8Array) => void = () => {};
  #drained: (() => void) | null = null;
  #handshake: ((error?: Error) => void) | null = null;
  /** Settles when a TLS client's handshake ends; Bun.connect resolves before it. */
  readonly handshaken: Promise<void>;
  constructor(readonly socket: BunSocket, transport: Transport) {
    // A unix socket has no Nagle to turn off.
    if (transport !== "unix") socket.setNoDelay(true);
    this.handshaken = new Promise((resolve, reject) => {
      this.#handshake = (error) => (error === undefined ? resolve() : reject(error));
    });
    this.handshaken.catch(() => {});
  }
  async write(bytes: Uint8Array): Promise<void> {
    for (let at = 0;;) {
      const n = this.socket.write(at === 0 ? bytes : bytes.subarray(at));
      at += Math.max(n, 0);
      if (at >= bytes.length) return;
      if (n < 0) throw new Error("socket closed");
      await new Promise<void>((resolve) => (this.#drained = resolve));
    }
  }
  drain(): void {
    this.#drained?.();
    this.#drained = null;
  }
  handshakeDone(success: boolean, error: Error | null): void {
    this.#handshake?.(success ? undefined : error ?? new Error("the TLS handshake failed"));
    this.#handshake = null;
  }
  tlsSession(): TlsSessionInfo {
    const socket = this.socket as unknown as BunTlsSocket;
    const cipher = socket.getCipher?.();
    return {
      protocol: socket.getTLSVersion?.() ?? cipher?.version ?? null,
      cipher: cipher?.standardName ?? cipher?.name ?? null,
    };
  }
  onData(callback: (chunk: Uint8Array) => void): void {
    this.callback = callback;
  }
  close(): void {
    this.socket.end();
  }
}

const bunHandlers = (
  transport: Transport,
  onOpen: (conn: BunRaw) => void,
): BunSocketHandler<BunRaw> => ({
  open(socket: BunSocket) {
    socket.data = new BunRaw(socket, transport);
    onOpen(socket.data);
  },
  // Bun calls it on TLS sockets only; a client checks the certificate here (rejectUnauthorized).
  handshake: (socket: BunSocket, success, error) => socket.data.handshakeDone(success, error),
  data: (socket: BunSocket, chunk: Uint8Array) => socket.data.callback(chunk),
  drain: (socket: BunSocket) => socket.data.drain(),
  close: () => {},
  error: () => {},
});

function bunListen(options: RawListenOptions, onConn: (conn: RawConn) => void): RawListener {
  const socket = bunHandlers(options.transport, onConn);
  if (options.transport === "unix") {
    const path = need(options.path, "unix");
    const server = bun().listen({ unix: path, socket });
    return { endpoint: { transport: "unix", path }, close: () => server.stop(true) };
  }
  const server = bun().listen({
    hostname: HOST,
    port: 0,
    socket,
    ...(options.transport === "tls" ? { tls: serverPems(options) } : {}),
  });
  return {
    endpoint: { transport: options.transport, port: server.port },
    close: () => server.stop(true),
  };
}

async function bunConnect(
  endpoint: Endpoint,
  pems: TlsPems | undefined,
): Promise<RawConn & { session?: TlsSessionInfo }> {
  let conn: BunRaw | undefined;
  const socket = bunHandlers(endpoint.transport, (c) => (conn = c));
  if (endpoint.transport === "unix") {
    await bun().connect({ unix: endpoint.path, socket });
    return conn!;
  }
  await bun().connect({
    hostname: HOST,
    port: endpoint.port,
    socket,
    // As lib/adapters/bun.ts does it: verification on, the address as the name to check.
    ...(endpoint.transport === "tls"
      ? { tls: { ca: need(pems, "tls").ca, rejectUnauthorized: true, serverName: HOST } }
      : {}),
  });
  if (endpoint.transport === "tcp") return conn!;
  await conn!.handshaken;
  const raw = conn!;
  return {
    write: (bytes) => raw.write(bytes),
    onData: (callback) => raw.onData(callback),
    close: () => raw.close(),
    session: raw.tlsSession(),
  };
}

// ── node:net / node:tls: write until it says false, then wait for drain ──────────────────────

function nodeConn(socket: net.Socket, transport: Transport): RawConn {
  if (transport !== "unix") socket.setNoDelay(true);
  socket.on("error", () => {});
  return {
    write(bytes) {
      if (socket.write(bytes)) return Promise.resolve();
      return new Promise((resolve) => socket.once("drain", resolve));
    },
    onData(callback) {
      socket.on("data", callback);
    },
    close() {
      socket.destroy();
    },
  };
}

async function nodeListen(
  options: RawListenOptions,
  onConn: (conn: RawConn) => void,
): Promise<RawListener> {
  const transport = options.transport;
  const accepted = (socket: net.Socket) => onConn(nodeConn(socket, transport));
  // tls.createServer's callback is its 'secureConnection': the handshake is done.
  const server = transport === "tls"
    ? tls.createServer(serverPems(options), accepted)
    : net.createServer(accepted);
  if (transport === "unix") {
    const path = need(options.path, "unix");
    await new Promise<void>((resolve) => server.listen(path, resolve));
    return { endpoint: { transport, path }, close: () => server.close() };
  }
  await new Promise<void>((resolve) => server.listen(0, HOST, resolve));
  return {
    endpoint: { transport, port: (server.address() as net.AddressInfo).port },
    close: () => server.close(),
  };
}

async function nodeConnect(
  endpoint: Endpoint,
  pems: TlsPems | undefined,
): Promise<RawConn & { session?: TlsSessionInfo }> {
  const socket = endpoint.transport === "unix"
    ? net.connect({ path: endpoint.path })
    : endpoint.transport === "tls"
    // As lib/adapters/node.ts does it: verification on; node:tls checks an IP host itself.
    ? tls.connect({
      host: HOST,
      port: endpoint.port,
      ca: need(pems, "tls").ca,
      rejectUnauthorized: true,
    })
    : net.connect({ host: HOST, port: endpoint.port });
  await new Promise((resolve, reject) => {
    socket.once(endpoint.transport === "tls" ? "secureConnect" : "connect", resolve);
    socket.once("error", reject);
  });
  const conn = nodeConn(socket, endpoint.transport);
  if (!(socket instanceof tls.TLSSocket)) return conn;
  const cipher = socket.getCipher();
  return {
    ...conn,
    session: {
      protocol: socket.getProtocol() ?? null,
      cipher: cipher?.standardName ?? cipher?.name ?? null,
    },
  };
}

// ── Entry points ─────────────────────────────────────────────────────────────────────────────

export function rawListen(
  runtime: RuntimeName,
  api: SocketApi,
  options: RawListenOptions,
  onConn: (conn: RawConn) => void,
): Promise<RawListener> {
  switch (flavour(runtime, api)) {
    case "deno":
      return Promise.resolve(denoListen(options, onConn));
    case "bun":
      return Promise.resolve(bunListen(options, onConn));
    case "node":
      return nodeListen(options, onConn);
  }
}

/**
 * Connects to `endpoint`; resolves once a TLS handshake is done (the certificate verified against
 * `pems.ca`), with what the runtime says it negotiated in `session`.
 */
export function rawConnect(
  runtime: RuntimeName,
  api: SocketApi,
  endpoint: Endpoint,
  pems?: TlsPems,
): Promise<RawConn & { session?: TlsSessionInfo }> {
  switch (flavour(runtime, api)) {
    case "deno":
      return denoConnect(endpoint, pems);
    case "bun":
      return bunConnect(endpoint, pems);
    case "node":
      return nodeConnect(endpoint, pems);
  }
}

/** The PEM files tests/_tls_fixtures.ts makes (ca.pem, cert.pem, key.pem) in `dir`. */
export function readTlsPems(dir: string): TlsPems {
  const read = (name: string) => readFileSync(join(dir, name), "utf8");
  return { ca: read("ca.pem"), cert: read("cert.pem"), key: read("key.pem") };
}
