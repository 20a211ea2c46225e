// `framed exec-server` / `framed exec`: the remote command runner of every socket tutorial, made
// safe. One JSON-header frame each way (u32be header length, size field "data_size"):
//
//   request  {"argv": ["ls", "-l"], "token"?: "…", "data_size": 0}
//   reply    {"ok": true, "exit_code": 0, "signal": null, "timed_out": false,
//             "stdout_size": N, "stderr_size": M, "truncated": false, "data_size": N + M}
//            body: N bytes of stdout, then M bytes of stderr (raw bytes, never mixed)
//   refusal  {"ok": false, "error": "…", "data_size": 0}
//
// Commands run as an argv with no shell; a wrong token runs nothing; a timeout kills the process;
// the output cap truncates (and says so) instead of buffering without bound.

import { spawn } from "node:child_process";
import { createHash, timingSafeEqual } from "node:crypto";
import {
  connect,
  jsonHeader,
  type JsonHeaderFrame,
  serve,
  type Server,
  type SocketApi,
} from "../mod.ts";

export interface ExecServerOptions {
  hostname?: string;
  port?: number;
  /** When set, every request must carry it. Required to bind anything but loopback. */
  token?: string;
  /** Seconds before the command is killed. Default 10. */
  timeout?: number;
  /** Bytes kept of stdout and of stderr each. Default 32 MiB. */
  maxOutput?: number;
  api?: SocketApi;
}

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
const MAX_REPLY = 1024 ** 3;

/** Compares secrets in constant time (hashing first makes the lengths equal). */
function sameSecret(given: unknown, expected: string): boolean {
  if (typeof given !== "string") return false;
  const digest = (s: string) => createHash("sha256").update(s).digest();
  return timingSafeEqual(digest(given), digest(expected));
}

/** Collects a stream up to `cap` bytes; reading goes on past it (the child must not block). */
function capped(cap: number) {
  const chunks: Uint8Array[] = [];
  let kept = 0;
  let truncated = false;
  return {
    push(chunk: Uint8Array) {
      const room = cap - kept;
      if (chunk.length > room) truncated = true;
      if (room > 0) {
        const part = chunk.length > room ? chunk.subarray(0, room) : chunk;
        chunks.push(part);
        kept += part.length;
      }
    },
    get truncated() {
      return truncated;
    },
    bytes(): Uint8Array {
      const out = new Uint8Array(kept);
      let at = 0;
      for (const c of chunks) {
        out.set(c, at);
        at += c.length;
      }
      return out;
    },
  };
}

function run(argv: string[], timeoutMs: number, maxOutput: number): Promise<JsonHeaderFrame> {
  return new Promise((resolve) => {
    const stdout = capped(maxOutput);
    const stderr = capped(maxOutput);
    let timedOut = false;
    const child = spawn(argv[0]!, argv.slice(1), {
      shell: false,
      stdio: ["ignore", "pipe", "pipe"],
    });
    const timer = setTimeout(() => {
      timedOut = true;
      child.kill("SIGKILL");
    }, timeoutMs);
    child.stdout!.on("data", (c: Uint8Array) => stdout.push(c));
    child.stderr!.on("data", (c: Uint8Array) => stderr.push(c));
    const finish = (exitCode: number | null, signal: string | null, error?: Error) => {
      clearTimeout(timer);
      if (error) {
        resolve({
          header: { ok: false, error: `cannot run ${argv[0]}: ${error.message}` },
          body: new Uint8Array(0),
        });
        return;
      }
      const out = stdout.bytes();
      const err = stderr.bytes();
      const body = new Uint8Array(out.length + err.length);
      body.set(out, 0);
      body.set(err, out.length);
      resolve({
        header: {
          ok: true,
          exit_code: exitCode,
          signal,
          timed_out: timedOut,
          stdout_size: out.length,
          stderr_size: err.length,
          truncated: stdout.truncated || stderr.truncated,
        },
        body,
      });
    };
    child.once("error", (error) => finish(null, null, error));
    child.once("close", (code, signal) => finish(code, signal));
  });
}

/**
 * Starts the command server.
 * @throws {Error} When asked to bind a non-loopback address without a token.
 */
export async function execServer(options: ExecServerOptions = {}): Promise<Server> {
  const hostname = options.hostname ?? "127.0.0.1";
  if (!isLoopback(hostname) && options.token === undefined) {
    throw new Error(`refusing to serve commands on ${hostname} without --token`);
  }
  const timeoutMs = (options.timeout ?? 10) * 1000;
  const maxOutput = options.maxOutput ?? 32 * 1024 * 1024;
  const codec = jsonHeader({ maxBodyLength: 2 * maxOutput, maxHeaderLength: 64 * 1024 });
  return await serve({
    hostname,
    port: options.port ?? 0,
    api: options.api,
    codec,
    onError: () => {}, // a bad client is closed; nothing else to do
    handler: async (conn) => {
      for await (const request of conn) {
        const { argv, token } = request.header as { argv?: unknown; token?: unknown };
        let reply: JsonHeaderFrame;
        if (options.token !== undefined && !sameSecret(token, options.token)) {
          reply = {
            header: { ok: false, error: "wrong or missing token" },
            body: new Uint8Array(0),
          };
        } else if (
          !Array.isArray(argv) || argv.length === 0 || !argv.every((a) => typeof a === "string")
        ) {
          reply = {
            header: { ok: false, error: "argv must be a non-empty array of strings" },
            body: new Uint8Array(0),
          };
        } else {
          reply = await run(argv as string[], timeoutMs, maxOutput);
        }
        await conn.writeFrame(reply);
      }
    },
  });
}

/** Runs `argv` on an exec server and returns what it reported. */
export async function execRemote(
  options: { hostname?: string; port: number; token?: string; api?: SocketApi },
  argv: string[],
): Promise<ExecReply> {
  const codec = jsonHeader({ maxBodyLength: MAX_REPLY });
  const conn = await connect({
    hostname: options.hostname,
    port: options.port,
    api: options.api,
    codec,
  });
  try {
    const header = options.token === undefined ? { argv } : { argv, token: options.token };
    await conn.writeFrame({ header, body: new Uint8Array(0) });
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
    conn.close();
  }
}
