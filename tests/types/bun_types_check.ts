// Checks the structural Bun types of lib/adapters/_bun_types.ts against the real ones of
// `bun-types` (pinned to the version of the `bun` dev dependency). Nothing here runs: it only has
// to compile, with `npx tsc -p tests/types`. A member Bun renamed, retyped or dropped fails here.
//
// Two directions matter. What Bun hands us (sockets, listeners, callback arguments) must fit our
// view of it; what we hand Bun (options, handlers) must fit Bun's. TypeScript compares the
// parameters of Bun's handler methods both ways, so the handlers also get a one-way check below.

import {
  type BunListener,
  type BunRuntime,
  type BunSocket,
  type BunSocketHandler,
  type BunSocketOptions,
  type BunTcpConnectOptions,
  type BunTcpListener,
  type BunTcpListenOptions,
  type BunTlsOptions,
  type BunUdpSocket,
  type BunUdpSocketHandler,
  type BunUdpSocketOptions,
  type BunUnixListener,
  type BunUnixOptions,
} from "../../lib/adapters/_bun_types.ts";

// ── Helpers ──────────────────────────────────────────────────────────────────────────────────

type Expect<T extends true> = T;
type Equal<A, B> = (<T>() => T extends A ? 1 : 2) extends (<T>() => T extends B ? 1 : 2) ? true
  : false;
type Assignable<From, To> = [From] extends [To] ? true : false;
/** The keys of our declaration that Bun's lacks: each is a name Bun does not know (a typo or a rename). */
type Unknown<Ours, Theirs> = Exclude<keyof Ours, keyof Theirs>;
/**
 * Each callback of ours as a plain function type taking exactly what Bun passes: assigning our
 * handler to it checks our parameters one way (Bun's arguments must fit them), and a callback Bun
 * does not have becomes a type no function fits.
 */
type CalledAsBunCalls<Ours, Theirs> = {
  [K in keyof Ours]-?: K extends keyof Theirs
    ? NonNullable<Theirs[K]> extends (...args: infer Args) => unknown ? (...args: Args) => unknown
    : ["Bun's member is not a callback", K]
    : ["Bun has no callback named", K];
};

/** A `data` slot type, to check that `Data` flows through as Bun's does. */
interface Probe {
  received: number;
}

// ── The runtime: connect, listen (both overloads), udpSocket ────────────────────────────────

export function checkRuntime(): BunRuntime {
  const runtime: BunRuntime = Bun;
  return runtime;
}

// ── What Bun hands us must fit our view ──────────────────────────────────────────────────────

export type BunHandsUs = [
  Expect<Assignable<Bun.Socket<Probe>, BunSocket<Probe>>>,
  Expect<Assignable<Bun.Socket, BunSocket>>,
  Expect<Assignable<Bun.TCPSocketListener<Probe>, BunTcpListener>>,
  Expect<Assignable<Bun.UnixSocketListener<Probe>, BunUnixListener>>,
  Expect<Assignable<Bun.SocketListener<Probe>, BunListener>>,
  Expect<Assignable<Bun.udp.Socket<"buffer">, BunUdpSocket>>,
];

/** Bun calls every callback we declare, under that name, with arguments our parameters accept. */
export function checkHandlers(): void {
  const tcp: CalledAsBunCalls<BunSocketHandler<Probe>, Bun.SocketHandler<Probe>> = {} as Required<
    BunSocketHandler<Probe>
  >;
  const udp: CalledAsBunCalls<BunUdpSocketHandler, Bun.udp.SocketHandler<"buffer">> =
    {} as Required<BunUdpSocketHandler>;
  void [tcp, udp];
}

// ── What we hand Bun must fit Bun's ──────────────────────────────────────────────────────────

type UpgradeOptions = Parameters<BunSocket<Probe>["upgradeTLS"]>[0];

export type WeHandBun = [
  Expect<Assignable<BunTcpConnectOptions<Probe>, Bun.TCPSocketConnectOptions<Probe>>>,
  Expect<Assignable<BunTcpListenOptions<Probe>, Bun.TCPSocketListenOptions<Probe>>>,
  Expect<Assignable<BunUnixOptions<Probe>, Bun.UnixSocketOptions<Probe>>>,
  Expect<Assignable<BunTlsOptions, Bun.TLSOptions>>,
  Expect<Assignable<UpgradeOptions, Bun.TLSUpgradeOptions<unknown>>>,
  Expect<Assignable<BunUdpSocketOptions, Bun.udp.SocketOptions<"buffer">>>,
  // Extra properties pass an assignability check, so every name we send is checked to exist.
  Expect<Equal<Unknown<BunSocketOptions<Probe>, Bun.SocketOptions<Probe>>, "tls">>,
  Expect<Equal<Unknown<BunTcpConnectOptions<Probe>, Bun.TCPSocketConnectOptions<Probe>>, never>>,
  // bun-types 1.4.5 lacks `reusePort` on listen; Bun honours it (see _bun_types.ts). If bun-types
  // adds it, this fails: then expect `never` here.
  Expect<
    Equal<Unknown<BunTcpListenOptions<Probe>, Bun.TCPSocketListenOptions<Probe>>, "reusePort">
  >,
  Expect<Equal<Unknown<BunUnixOptions<Probe>, Bun.UnixSocketOptions<Probe>>, never>>,
  Expect<Equal<Unknown<BunTlsOptions, Bun.TLSOptions>, never>>,
  Expect<Equal<Unknown<UpgradeOptions, Bun.TLSUpgradeOptions<unknown>>, never>>,
  Expect<Equal<Unknown<BunSocketHandler<Probe>, Bun.SocketHandler<Probe>>, never>>,
  Expect<Equal<Unknown<BunUdpSocketOptions, Bun.udp.SocketOptions<"buffer">>, never>>,
  Expect<Equal<Unknown<BunUdpSocketHandler, Bun.udp.SocketHandler<"buffer">>, never>>,
];

/** A handler written against our types, passed to Bun's own functions as the adapters do. */
export async function checkFakeHandler(): Promise<void> {
  const handler: BunSocketHandler<Probe> = {
    open: (socket) => void socket.setNoDelay(true),
    data: (socket, chunk) => void (socket.data.received += chunk.byteLength),
    drain: (socket) => void socket.resume(),
    end: (socket) => socket.shutdown(),
    close: (_socket, error) => void error?.message,
    error: (socket, error) => void [socket.end(), error.message],
    connectError: (_socket, error) => void error.message,
    timeout: (socket) => socket.end(),
    handshake: (_socket, success, error) => void [success, error?.message],
  };
  const data: Probe = { received: 0 };
  const tcp = Bun.listen<Probe>({ hostname: "127.0.0.1", port: 0, data, socket: handler });
  const unix = Bun.listen<Probe>({ unix: "/tmp/framed.sock", data, socket: handler });
  const client = await Bun.connect<Probe>({
    hostname: tcp.hostname,
    port: tcp.port,
    allowHalfOpen: true,
    tls: { serverName: "localhost", rejectUnauthorized: true },
    data,
    socket: handler,
  });
  const [, tls] = client.upgradeTLS<Probe>({ tls: true, data, socket: handler });
  const udpHandler: BunUdpSocketHandler = {
    data: (socket, datagram, port, address) => void socket.send(datagram, port, address),
  };
  const udp = await Bun.udpSocket({ hostname: "127.0.0.1", socket: udpHandler });
  void [unix.unix, tls.write(new Uint8Array(1)), udp.send(new Uint8Array(1), tcp.port, "::1")];
}
