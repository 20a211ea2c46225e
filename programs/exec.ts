// `framed exec-server` / `framed exec`: the remote command runner of every socket tutorial, made
// safe. One JSON-header frame each way (u32be header length, size field "data_size"):
//
//   request  {"argv": ["ls", "-l"], "token"?: "…", "data_size": 0}
//   reply    {"ok": true, "exit_code": 0, "signal": null, "timed_out": false,
//             "stdout_size": N, "stderr_size": M, "truncated": false, "data_size": N + M}
//            body: N bytes of stdout, then M bytes of stderr (raw bytes, never mixed)
//   refusal  {"ok": false, "error": "…", "data_size": 0}
//
// Over TCP, a unix socket (`path`) or TLS (`tls`). TLS with a token is the supported way to serve
// beyond this machine: off loopback, execServer refuses to start without both, since without TLS
// the token crosses the network in clear text and anyone on the path can read it and replay it.
//
// What a hostile peer cannot do, and why:
// - run anything without the token: a token (and TLS) is required off loopback, and a blank one is
//   refused;
// - outlive --timeout: each command runs in its own process group (a new session), and the whole
//   group is killed at the deadline (SIGTERM, then SIGKILL after KILL_GRACE_MS); the reply leaves
//   then even if a process that escaped the group still holds the pipes, and no process of the
//   group outlives its request;
// - exhaust memory: at most --max-concurrent commands run at once (a request beyond that gets a
//   "busy" refusal at once, it never waits), each keeps at most --max-output bytes of stdout and of
//   stderr (the rest is read and dropped as it comes), and the kept chunks are sent as they are,
//   never concatenated; so the server holds at most maxConcurrent × 2 × maxOutput bytes of output;
// - hold a slot by not reading its reply: the connection is dropped after as long as the command
//   was allowed to run;
// - send a request body: requests have none (data_size must be 0), so none is buffered.

import { spawn } from "node:child_process";
import { createHash, timingSafeEqual } from "node:crypto";
import process from "node:process";
import {
  type Address,
  type Codec,
  connect,
  type ConnectStreamOptions,
  detectRuntime,
  type EncodeSink,
  type JsonHeader,
  jsonHeader,
  type JsonHeaderFrame,
  type NetAddress,
  serve,
  type ServeHandlingOptions,
  type Server,
  type SocketApi,
  type TcpListenOptions,
  type UnixAddress,
  type UnixListenOptions,
} from "../mod.ts";

/** The accepted range of every numeric option, shared with the CLI's flag checks. */
export const EXEC_LIMITS = {
  /** Seconds a command may run (`--timeout`). */
  timeout: { min: 1, max: 86_400, default: 10 },
  /** Bytes kept of stdout and of stderr each (`--max-output`); a reply is at most twice this. */
  maxOutput: { min: 0, max: 256 * 1024 * 1024, default: 32 * 1024 * 1024 },
  /** Commands running at once (`--max-concurrent`). */
  maxConcurrent: { min: 1, max: 1024, default: 4 },
} as const;

/** How long a process group gets between SIGTERM and SIGKILL at the deadline. */
const KILL_GRACE_MS = 1000;
/** How long the leader may take to be reaped after SIGKILL before the reply leaves anyway. */
const REAP_WAIT_MS = 1000;

/** What the command server does, wherever it listens. */
export interface ExecServerSettings {
  /**
   * When set, every request must carry it. Required (with `tls`) to bind anything but loopback.
   * Not blank.
   */
  token?: string;
  /** Seconds before the command's process group is killed. Default 10. */
  timeout?: number;
  /** Bytes kept of stdout and of stderr each. Default 32 MiB. */
  maxOutput?: number;
  /** Commands running at once; a request beyond this gets a "busy" refusal. Default 4. */
  maxConcurrent?: number;
  api?: SocketApi;
  /**
   * Told of every client that was dropped (bad input, a failed TLS handshake: `conn` is then
   * `null`), after that client alone was closed. Default: nothing.
   */
  onError?: (error: unknown, conn: { readonly remoteAddress: Address } | null) => void;
}

/** Where the command server listens over TCP: `hostname` (default 127.0.0.1), `port`, `tls`. */
export type ExecServerTcp = Pick<TcpListenOptions, "hostname" | "port" | "tls" | "path">;
/** Where the command server listens on a unix socket (a local transport, like loopback). */
export type ExecServerUnix = Pick<UnixListenOptions, "path" | "hostname" | "port" | "tls">;

/** Options of {@linkcode execServer}: the settings, and where to listen. */
export type ExecServerOptions = ExecServerSettings & (ExecServerTcp | ExecServerUnix);

export interface ExecReply {
  exitCode: number | null;
  signal: string | null;
  timedOut: boolean;
  truncated: boolean;
  stdout: Uint8Array;
  stderr: Uint8Array;
}

/** Whether `hostname` is this machine only (where serving commands without a token is allowed). */
export function isLoopback(hostname: string): boolean {
  return /^(127\.\d+\.\d+\.\d+|::1|localhost)$/.test(hostname);
}

/** Why `token` cannot be a token (it is empty or only whitespace), or null when it can. */
export function badToken(token: string): string | null {
  return token.trim() === "" ? "the token must not be empty or whitespace" : null;
}

const MAX_REPLY = 2 * EXEC_LIMITS.maxOutput.max + 64 * 1024;

/** Compares secrets in constant time (hashing first makes the lengths equal). */
function sameSecret(given: unknown, expected: string): boolean {
  if (typeof given !== "string") return false;
  const digest = (s: string) => createHash("sha256").update(s).digest();
  return timingSafeEqual(digest(given), digest(expected));
}

/**
 * A reply frame whose body is `parts` sent back to back: stdout's and stderr's chunks go out as
 * they were read, so the server never holds a second, concatenated copy of the output.
 */
type ExecFrame = JsonHeaderFrame & { readonly parts?: readonly Uint8Array[] };

const EMPTY = new Uint8Array(0);

/**
 * Requests are JSON-header frames with no body; replies may carry `parts`. Decoding is the plain
 * JSON-header decoder (whose body limit of 0 refuses any request body before buffering it).
 */
function execCodec(maxReplyBody: number): Codec<ExecFrame> {
  const requests = jsonHeader({ maxBodyLength: 0, maxHeaderLength: 64 * 1024 });
  const replies = jsonHeader({ maxBodyLength: maxReplyBody });
  const encodeTo = (frame: ExecFrame, sink: EncodeSink): void => {
    if (frame.parts === undefined) return replies.encodeTo(frame, sink);
    const size = frame.parts.reduce((total, part) => total + part.length, 0);
    const head = replies.encodeHeader(frame.header, size);
    sink.reserve(head.length).set(head, sink.length);
    sink.length += head.length;
    for (const part of frame.parts) if (part.length > 0) sink.appendBorrowed(part);
  };
  return {
    name: "exec(json-header)",
    encodeTo,
    encode: (frame) => {
      if (frame.parts === undefined) return replies.encode(frame);
      const body = new Uint8Array(frame.parts.reduce((total, part) => total + part.length, 0));
      let at = 0;
      for (const part of frame.parts) {
        body.set(part, at);
        at += part.length;
      }
      return replies.encode({ header: frame.header, body });
    },
    createDecoder: (options) => requests.createDecoder(options),
  };
}

/** Keeps (a copy of) the first `cap` bytes of a stream; the rest is dropped as it is read. */
class CappedOutput {
  readonly parts: Uint8Array[] = [];
  kept = 0;
  truncated = false;
  readonly #cap: number;

  constructor(cap: number) {
    this.#cap = cap;
  }

  /**
   * @param owned Whether `chunk` is ours to keep; when not, it is only valid during the call (a
   * reader reusing its buffer) and what is kept is copied.
   */
  push(chunk: Uint8Array, owned: boolean): void {
    const room = this.#cap - this.kept;
    if (chunk.length > room) this.truncated = true;
    if (room <= 0) return;
    const part = chunk.length > room ? chunk.subarray(0, room) : chunk;
    // A small view would also pin its whole backing buffer, which the cap would not count.
    const keep = owned && part.byteLength * 2 >= part.buffer.byteLength;
    this.parts.push(keep ? part : part.slice());
    this.kept += part.length;
  }
}

function refusal(error: string): ExecFrame {
  return { header: { ok: false, error }, body: EMPTY };
}

function messageOf(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}

/** Sends `signal` to every process of the group led by `pid`; a group already gone is fine. */
function killGroup(pid: number | undefined, signal: "SIGTERM" | "SIGKILL"): void {
  if (pid === undefined) return;
  try {
    // A negative pid names the process group (kill(2)); checked in Deno and Bun, whose
    // node:process forwards it as is.
    process.kill(-pid, signal);
  } catch {
    // ESRCH: every process of the group has exited.
  }
}

interface ExitStatus {
  code: number | null;
  signal: string | null;
}

/** A command started in a process group of its own, its two pipes read into sinks. */
interface GroupChild {
  /** The child's pid, which is also its process group's id. */
  readonly pid: number | undefined;
  /** Resolves with the exit status; rejects when the command could not be started. */
  readonly exited: Promise<ExitStatus>;
  /** Resolves when both pipes are closed: at their end of file, or after `stopReading`. */
  readonly drained: Promise<void>;
  /** Stops reading and closes our end of both pipes. */
  stopReading(): void;
}

/** Receives what a pipe read; `owned` says whether the chunk may be kept without a copy. */
type Sink = (chunk: Uint8Array, owned: boolean) => void;

const PIPE_READ_SIZE = 64 * 1024;

/**
 * Deno: Deno.Command with `detached` (the child calls setsid(), checked: its pgid is its pid),
 * read with BYOB readers into one reused buffer per pipe. Deno's node:child_process allocates a
 * fresh buffer per pipe read that its GC barely sees: 4 commands writing 6 GB each drove the
 * server to 648 MiB even with nothing kept; BYOB reads held 3 GB of output at 49 MiB.
 */
function spawnWithDeno(argv: string[], onStdout: Sink, onStderr: Sink): GroupChild {
  const child = new Deno.Command(argv[0]!, {
    args: argv.slice(1),
    stdin: "null",
    stdout: "piped",
    stderr: "piped",
    detached: true,
  }).spawn();
  const readers = [
    child.stdout.getReader({ mode: "byob" }),
    child.stderr.getReader({ mode: "byob" }),
  ];
  const pump = async (reader: ReadableStreamBYOBReader, sink: Sink) => {
    let buffer = new Uint8Array(PIPE_READ_SIZE);
    try {
      for (;;) {
        const { value, done } = await reader.read(buffer);
        if (done || value === undefined) return;
        sink(value, false);
        buffer = new Uint8Array(value.buffer); // the read transferred it; it comes back here
      }
    } catch {
      // Cancelled by stopReading.
    }
  };
  return {
    pid: child.pid,
    exited: child.status.then((status) => ({
      // Deno reports 128 + n as the code of a process killed by signal n; Node reports null.
      code: status.signal === null ? status.code : null,
      signal: status.signal,
    })),
    drained: Promise.all([pump(readers[0]!, onStdout), pump(readers[1]!, onStderr)]).then(() => {}),
    stopReading: () => {
      for (const reader of readers) reader.cancel().catch(() => {});
    },
  };
}

/** Bun and Node: node:child_process with `detached` (setsid()). */
function spawnWithNode(argv: string[], onStdout: Sink, onStderr: Sink): GroupChild {
  const child = spawn(argv[0]!, argv.slice(1), {
    shell: false,
    detached: true,
    stdio: ["ignore", "pipe", "pipe"],
  });
  const pipes = [child.stdout!, child.stderr!];
  pipes[0]!.on("data", (chunk: Uint8Array) => onStdout(chunk, true));
  pipes[1]!.on("data", (chunk: Uint8Array) => onStderr(chunk, true));
  const closed = pipes.map((pipe) =>
    new Promise<void>((resolve) => {
      pipe.once("close", resolve);
      pipe.on("error", () => {}); // a destroyed pipe may report EPIPE or ECONNRESET; close follows
    })
  );
  const stopReading = () => {
    for (const pipe of pipes) pipe.destroy();
  };
  return {
    pid: child.pid,
    exited: new Promise((resolve, reject) => {
      child.once("exit", (code, signal) => resolve({ code, signal }));
      child.once("error", (error) => {
        stopReading();
        reject(error);
      });
    }),
    drained: Promise.all(closed).then(() => {}),
    stopReading,
  };
}

/** Resolves true when `promise` settles within `ms`, false otherwise. */
async function settlesWithin(promise: Promise<unknown>, ms: number): Promise<boolean> {
  let timer: ReturnType<typeof setTimeout> | undefined;
  const late = new Promise<boolean>((resolve) => (timer = setTimeout(() => resolve(false), ms)));
  try {
    return await Promise.race([promise.then(() => true, () => true), late]);
  } finally {
    clearTimeout(timer);
  }
}

/**
 * Runs `argv` in a process group of its own and resolves with the reply: when the command has
 * exited and its pipes are closed, or at the deadline, where the group gets SIGTERM, then SIGKILL
 * after KILL_GRACE_MS, and the reply leaves whether or not some escaped process holds the pipes.
 */
async function run(
  argv: string[],
  timeoutMs: number,
  maxOutput: number,
  groups: Set<number>,
): Promise<ExecFrame> {
  const stdout = new CappedOutput(maxOutput);
  const stderr = new CappedOutput(maxOutput);
  let child: GroupChild;
  try {
    const start = detectRuntime() === "deno" ? spawnWithDeno : spawnWithNode;
    child = start(
      argv,
      (chunk, owned) => stdout.push(chunk, owned),
      (chunk, owned) => stderr.push(chunk, owned),
    );
  } catch (error) {
    // A missing program (Deno throws here), or an argument holding a NUL byte.
    return refusal(`cannot run ${argv[0]}: ${messageOf(error)}`);
  }
  const pid = child.pid;
  if (pid !== undefined) groups.add(pid);
  let status: ExitStatus | null = null;
  let failure: unknown = null;
  const exited = child.exited.then((s) => void (status = s), (error) => void (failure = error));
  const finished = Promise.all([exited, child.drained]);
  let timedOut = false;
  try {
    if (!await settlesWithin(finished, timeoutMs)) {
      timedOut = true;
      killGroup(pid, "SIGTERM");
      if (!await settlesWithin(finished, KILL_GRACE_MS)) {
        killGroup(pid, "SIGKILL");
        child.stopReading(); // a process that left the group may hold the pipes: stop waiting
        await settlesWithin(exited, REAP_WAIT_MS);
      }
    }
  } finally {
    // Nothing the command started may outlive the request (a pgid stays reserved while any
    // member lives, so this cannot reach another group).
    killGroup(pid, "SIGKILL");
    if (pid !== undefined) groups.delete(pid);
    child.stopReading();
  }
  const final = status as ExitStatus | null;
  if (final === null && failure !== null) {
    return refusal(`cannot run ${argv[0]}: ${messageOf(failure)}`);
  }
  return {
    header: {
      ok: true,
      exit_code: final === null ? null : final.code,
      // Not reaped in time after SIGKILL: that signal is what ends it.
      signal: final === null ? "SIGKILL" : final.signal,
      timed_out: timedOut,
      stdout_size: stdout.kept,
      stderr_size: stderr.kept,
      truncated: stdout.truncated || stderr.truncated,
    },
    body: EMPTY,
    parts: [...stdout.parts, ...stderr.parts],
  };
}

/** Counts the commands running; a request finds a free slot or is refused. */
class Slots {
  #free: number;
  constructor(count: number) {
    this.#free = count;
  }
  tryTake(): boolean {
    if (this.#free === 0) return false;
    this.#free--;
    return true;
  }
  give(): void {
    this.#free++;
  }
}

function checkRange(name: string, value: number, range: { min: number; max: number }): void {
  if (!(Number.isFinite(value) && value >= range.min && value <= range.max)) {
    throw new RangeError(`${name} must be between ${range.min} and ${range.max}, got ${value}`);
  }
}

/**
 * Why the command server must not serve at `hostname` with these protections, or null when it
 * may: anything but loopback needs both a token (so that not everyone who reaches the port can run
 * commands) and TLS (so that the token cannot be read on the way and replayed). Shared with the
 * CLI, which reports it as a usage error.
 */
export function unprotectedExposure(
  hostname: string,
  protection: { token: boolean; tls: boolean },
): string | null {
  if (isLoopback(hostname) || (protection.token && protection.tls)) return null;
  const missing: string[] = [];
  if (!protection.token) missing.push("--token");
  if (!protection.tls) missing.push("TLS (--tls-cert and --tls-key)");
  return `refusing to serve commands on ${hostname} without ${missing.join(" and ")}: ` +
    "beyond loopback, exec-server needs both a token and TLS";
}

/**
 * Starts the command server, over TCP (TLS with `tls`), or on a unix socket with `path`.
 * @throws {Error} When asked to bind a non-loopback address without both a token and TLS, or
 * given a blank token.
 * @throws {RangeError} When an option is out of its range (see {@linkcode EXEC_LIMITS}).
 */
export function execServer(
  options?: ExecServerSettings & ExecServerTcp,
): Promise<Server<NetAddress>>;
export function execServer(
  options: ExecServerSettings & ExecServerUnix,
): Promise<Server<UnixAddress>>;
export function execServer(options: ExecServerOptions): Promise<Server<Address>>;
export async function execServer(options: ExecServerOptions = {}): Promise<Server<Address>> {
  const hostname = options.hostname ?? "127.0.0.1";
  const expected = options.token;
  if (expected !== undefined && badToken(expected) !== null) throw new Error(badToken(expected)!);
  if (options.path === undefined) {
    const exposed = unprotectedExposure(hostname, {
      token: expected !== undefined,
      tls: options.tls !== undefined,
    });
    if (exposed !== null) throw new Error(exposed);
  }
  const timeout = options.timeout ?? EXEC_LIMITS.timeout.default;
  const maxOutput = options.maxOutput ?? EXEC_LIMITS.maxOutput.default;
  const maxConcurrent = options.maxConcurrent ?? EXEC_LIMITS.maxConcurrent.default;
  checkRange("timeout", timeout, EXEC_LIMITS.timeout);
  checkRange("maxOutput", maxOutput, EXEC_LIMITS.maxOutput);
  checkRange("maxConcurrent", maxConcurrent, EXEC_LIMITS.maxConcurrent);
  if (!Number.isInteger(maxOutput) || !Number.isInteger(maxConcurrent)) {
    throw new RangeError("maxOutput and maxConcurrent must be integers");
  }
  const timeoutMs = timeout * 1000;
  const slots = new Slots(maxConcurrent);
  const groups = new Set<number>(); // the process groups of the commands running now
  let stopping = false;
  const handling: ServeHandlingOptions<ExecFrame> = {
    api: options.api,
    codec: execCodec(2 * maxOutput),
    // A bad client is closed by serve(); the caller decides whether to say so.
    onError: options.onError ?? (() => {}),
    handler: async (conn) => {
      for await (const request of conn) {
        const { argv, token } = request.header as { argv?: unknown; token?: unknown };
        if (expected !== undefined && !sameSecret(token, expected)) {
          await conn.writeFrame(refusal("wrong or missing token"));
        } else if (
          !Array.isArray(argv) || argv.length === 0 || !argv.every((a) => typeof a === "string")
        ) {
          await conn.writeFrame(refusal("argv must be a non-empty array of strings"));
        } else if (stopping) {
          await conn.writeFrame(refusal("the server is shutting down"));
        } else if (!slots.tryTake()) {
          await conn.writeFrame(
            refusal(`busy: ${maxConcurrent} commands are running (--max-concurrent); try again`),
          );
        } else {
          try {
            const reply = await run(argv as string[], timeoutMs, maxOutput, groups);
            // The slot (and the output it holds) is given back only once the reply is sent, or
            // once a peer that does not read it has had as long as the command had.
            let stalled: ReturnType<typeof setTimeout> | undefined;
            const sent = conn.writeFrame(reply);
            const deadline = new Promise<void>((resolve) => {
              stalled = setTimeout(() => {
                abortConn(conn);
                resolve();
              }, timeoutMs);
            });
            await Promise.race([sent.catch(() => {}), deadline]);
            clearTimeout(stalled);
            await sent;
          } finally {
            slots.give();
          }
        }
      }
    },
  };
  const server: Server<Address> = options.path !== undefined
    ? await serve({ ...handling, path: options.path })
    : await serve({ ...handling, hostname, port: options.port ?? 0, tls: options.tls });
  // Commands run in sessions of their own, so they would outlive the server: stopping kills them
  // (their requests then get their replies, and the handlers end).
  const shutdown = server.shutdown.bind(server);
  const stop = (): Promise<void> => {
    stopping = true;
    for (const pid of groups) killGroup(pid, "SIGKILL");
    return shutdown();
  };
  // `await using` stops the same way, where the server supports it.
  const dispose = typeof Symbol.asyncDispose === "symbol" && Symbol.asyncDispose in server
    ? { [Symbol.asyncDispose]: stop }
    : {};
  return Object.assign(server, { shutdown: stop }, dispose);
}

/** Drops a connection now, under the current API (`close()`) and the graceful one (`abort()`). */
function abortConn(conn: { close(): unknown; abort?: () => unknown }): void {
  if (conn.abort !== undefined) void conn.abort();
  else void conn.close();
}

/**
 * Runs `argv` on an exec server and returns what it reported. Connects over TCP (`hostname`,
 * `port`), TLS (`tls` as well), or a unix socket (`path`).
 */
export async function execRemote(
  options: ConnectStreamOptions & { token?: string; api?: SocketApi },
  argv: string[],
): Promise<ExecReply> {
  const codec = jsonHeader({ maxBodyLength: MAX_REPLY });
  const { token: _token, ...where } = options;
  const conn = await connect({ ...where, codec });
  try {
    const header: JsonHeader = options.token === undefined
      ? { argv }
      : { argv, token: options.token };
    await conn.writeFrame({ header, body: EMPTY });
    const reply = await conn.readFrame();
    if (reply === null) throw new Error("the server closed the connection without a reply");
    const h = reply.header as Record<string, unknown>;
    if (h.ok !== true) throw new Error(`refused: ${h.error}`);
    const outSize = Number(h.stdout_size);
    return {
      exitCode: h.exit_code as number | null,
      signal: h.signal as string | null,
      timedOut: h.timed_out === true,
      truncated: h.truncated === true,
      stdout: reply.body.subarray(0, outSize),
      stderr: reply.body.subarray(outSize),
    };
  } finally {
    // Everything was read: an immediate close loses nothing, under either close() semantics.
    abortConn(conn);
  }
}
