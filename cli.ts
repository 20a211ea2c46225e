/**
 * `framed`, the command line. Programs in any language can drive it, so its names and outputs are a
 * contract:
 *
 * ```
 * deno run -A cli.ts echo --framing length|delimiter|json-header [--length-format FMT]
 *                         [--max-frame BYTES] [--delimiter STR] [--host 127.0.0.1] [--port 0]
 *                         [--api native|node]
 * deno run -A cli.ts send --framing … --port P [--host H] [--length-format FMT] MESSAGE…
 * ```
 *
 * The same commands run as `bun cli.ts …`. `echo` prints `listening on HOST:PORT` as its first line
 * and echoes every frame unchanged; it exits 0 on SIGINT and SIGTERM. `send` writes every MESSAGE
 * as one frame, all before reading any reply, then prints one reply body per line. Failures print
 * one line on stderr and exit non-zero.
 *
 * @module
 */

import { realpathSync } from "node:fs";
import process from "node:process";
import { fileURLToPath } from "node:url";
import { parseArgs } from "node:util";
import {
  type Codec,
  connect,
  DEFAULT_MAX_FRAME_LENGTH,
  DEFAULT_MAX_RECORD_LENGTH,
  delimiter,
  isLengthFormat,
  jsonHeader,
  type JsonHeaderFrame,
  lengthPrefix,
  pythonJsonDumps,
  serve,
  type SocketApi,
} from "./mod.ts";
import { badToken, EXEC_LIMITS, execRemote, execServer, isLoopback } from "./examples/exec.ts";
import {
  badServedDir,
  DEFAULT_MAX_UPLOAD,
  fileServer,
  getFile,
  putFile,
} from "./examples/file_transfer.ts";

/** An integer flag's range and unit: stated in the usage text and in every refusal. */
interface IntegerSpec {
  min: number;
  max: number;
  unit: string;
}

const LISTEN_PORT: IntegerSpec = { min: 0, max: 65_535, unit: "TCP port, 0 for any free one" };
const PEER_PORT: IntegerSpec = { min: 1, max: 65_535, unit: "TCP port" };
const MAX_FRAME: IntegerSpec = { min: 0, max: Number.MAX_SAFE_INTEGER, unit: "bytes" };
const TIMEOUT: IntegerSpec = { ...EXEC_LIMITS.timeout, unit: "seconds" };
const MAX_OUTPUT: IntegerSpec = { ...EXEC_LIMITS.maxOutput, unit: "bytes" };
const MAX_CONCURRENT: IntegerSpec = { ...EXEC_LIMITS.maxConcurrent, unit: "commands" };
const MAX_SIZE: IntegerSpec = { min: 0, max: Number.MAX_SAFE_INTEGER, unit: "bytes" };

const range = (spec: IntegerSpec) => `${spec.min}–${spec.max} ${spec.unit}`;

/** One line per numeric flag: its range, unit and default. */
function numberHelp(): string {
  const lines: [string, string][] = [
    [
      "--port",
      `${LISTEN_PORT.min}–${LISTEN_PORT.max} to listen (0: any free port, the default), ` +
      `${PEER_PORT.min}–${PEER_PORT.max} to connect`,
    ],
    [
      "--max-frame",
      `${range(MAX_FRAME)} (default ${DEFAULT_MAX_FRAME_LENGTH}; ` +
      `${DEFAULT_MAX_RECORD_LENGTH} for delimiter)`,
    ],
    [
      "--timeout",
      `${range(TIMEOUT)} before a command's process group is killed ` +
      `(default ${EXEC_LIMITS.timeout.default})`,
    ],
    [
      "--max-output",
      `${range(MAX_OUTPUT)} kept of stdout and of stderr each ` +
      `(default ${EXEC_LIMITS.maxOutput.default})`,
    ],
    [
      "--max-concurrent",
      `${range(MAX_CONCURRENT)} at once; more get a "busy" refusal ` +
      `(default ${EXEC_LIMITS.maxConcurrent.default})`,
    ],
    ["--max-size", `${range(MAX_SIZE)}, the largest upload (default ${DEFAULT_MAX_UPLOAD})`],
  ];
  return lines.map(([flag, text]) => `  ${flag.padEnd(16)}  ${text}`).join("\n");
}

const USAGE = `usage: framed <command> [options]

commands:
  echo         --framing length|delimiter|json-header [--length-format FMT] [--max-frame BYTES]
               [--delimiter STR] [--host 127.0.0.1] [--port 0] [--api native|node]
  send         --framing … --port P [--host H] [--length-format FMT] [--delimiter STR]
               [--max-frame BYTES] MESSAGE…
  sticky-demo  [--api native|node]          reproduce sticky packets, then fix them
  exec-server  [--host 127.0.0.1] [--port 0] [--token T] [--timeout SECONDS]
               [--max-output BYTES] [--max-concurrent N] [--api native|node]
  exec         --port P [--host H] [--token T] -- CMD ARG…
  file-server  --dir DIR [--host 127.0.0.1] [--port 0] [--max-size BYTES] [--api native|node]
  put          --port P [--host H] FILE
  get          --port P [--host H] NAME --out FILE
  udp-demo     [--api native|node]          UDP keeps boundaries, and loses datagrams

numbers are decimal integers:
${numberHelp()}

--token: required to bind exec-server off loopback; never empty or whitespace.
--dir: must be an existing directory.
length formats: u8 u16be u16le u32be u32le i32be i32le u64be u64le varint (default u32be)
delimiter escapes: \\n \\r \\t \\0 \\\\ \\xHH (default \\n)`;

/** A usage mistake: printed with the usage text, exit code 2. */
class UsageError extends Error {}

const FRAMING_OPTIONS = {
  framing: { type: "string" },
  "length-format": { type: "string", default: "u32be" },
  "max-frame": { type: "string" },
  delimiter: { type: "string", default: "\\n" },
  host: { type: "string", default: "127.0.0.1" },
  port: { type: "string" },
  api: { type: "string", default: "native" },
} as const;

type FramingValues = { [K in keyof typeof FRAMING_OPTIONS]?: string };

/** Turns `\n`, `\r\n`, `\x00` and friends into bytes. */
function unescape(text: string): Uint8Array {
  const out: number[] = [];
  const utf8 = new TextEncoder();
  for (let i = 0; i < text.length; i++) {
    if (text[i] !== "\\" || i + 1 === text.length) {
      out.push(...utf8.encode(text[i]!));
      continue;
    }
    const next = text[++i]!;
    const simple: Record<string, number> = { n: 10, r: 13, t: 9, "0": 0, "\\": 92 };
    if (next in simple) out.push(simple[next]!);
    else if (next === "x" && /^[0-9a-fA-F]{2}$/.test(text.slice(i + 1, i + 3))) {
      out.push(parseInt(text.slice(i + 1, i + 3), 16));
      i += 2;
    } else throw new UsageError(`unknown escape \\${next} in --delimiter`);
  }
  return new Uint8Array(out);
}

/** Parses an integer flag within its range; a missing one takes `fallback` or is an error. */
function integerFlag(
  name: string,
  value: string | undefined,
  spec: IntegerSpec,
  fallback?: number,
): number {
  if (value === undefined) {
    if (fallback === undefined) throw new UsageError(`--${name} is required`);
    return fallback;
  }
  const number = /^\d+$/.test(value) ? Number(value) : NaN;
  if (!(Number.isSafeInteger(number) && number >= spec.min && number <= spec.max)) {
    throw new UsageError(
      `--${name} must be an integer from ${spec.min} to ${spec.max} (${spec.unit}), got ${
        JSON.stringify(value)
      }`,
    );
  }
  return number;
}

/** Same as {@linkcode integerFlag} when the flag is optional and has no default here. */
function optionalIntegerFlag(
  name: string,
  value: string | undefined,
  spec: IntegerSpec,
): number | undefined {
  return value === undefined ? undefined : integerFlag(name, value, spec);
}

type AnyFraming =
  | { kind: "bytes"; codec: Codec<Uint8Array> }
  | { kind: "json"; codec: Codec<JsonHeaderFrame> };

function framingFrom(values: FramingValues): AnyFraming {
  const format = values["length-format"]!;
  if (!isLengthFormat(format)) throw new UsageError(`unknown --length-format ${format}`);
  const maxFrame = optionalIntegerFlag("max-frame", values["max-frame"], MAX_FRAME);
  switch (values.framing) {
    case "length":
      return {
        kind: "bytes",
        codec: lengthPrefix({ lengthFormat: format, maxFrameLength: maxFrame }),
      };
    case "delimiter":
      return {
        kind: "bytes",
        codec: delimiter({ delimiter: unescape(values.delimiter!), maxRecordLength: maxFrame }),
      };
    case "json-header":
      // pythonJsonDumps makes `send` byte-for-byte the seed's json.dumps + struct.pack program.
      return {
        kind: "json",
        codec: jsonHeader({
          lengthFormat: format,
          maxBodyLength: maxFrame,
          stringify: pythonJsonDumps,
        }),
      };
    default:
      throw new UsageError(`--framing must be length, delimiter or json-header`);
  }
}

function apiFrom(value: string | undefined): SocketApi {
  if (value === "native" || value === "node") return value;
  throw new UsageError(`--api must be native or node`);
}

async function echo(args: string[]): Promise<void> {
  const { values } = parseArgs({ args, options: FRAMING_OPTIONS, strict: true });
  const framing = framingFrom(values);
  const server = await serve<unknown>({
    hostname: values.host,
    port: integerFlag("port", values.port, LISTEN_PORT, 0),
    api: apiFrom(values.api),
    codec: framing.codec as Codec<unknown>,
    handler: async (conn) => {
      for await (const frame of conn) {
        if (!conn.write(frame)) await conn.flush();
      }
    },
    // A bad client is closed by serve(); say so on stderr and keep serving everyone else.
    onError: (error, conn) => {
      const who = conn === null
        ? "accept"
        : `${conn.remoteAddress.hostname}:${conn.remoteAddress.port}`;
      console.error(`framed echo: ${who}: ${error instanceof Error ? error.message : error}`);
    },
  });
  console.log(`listening on ${server.address.hostname}:${server.address.port}`);
  const stop = () => {
    void server.shutdown().then(() => process.exit(0));
    // A client that never stops sending must not hold the exit hostage.
    setTimeout(() => process.exit(0), 2000);
  };
  process.on("SIGINT", stop);
  process.on("SIGTERM", stop);
  await server.finished;
}

async function send(args: string[]): Promise<void> {
  const { values, positionals } = parseArgs({
    args,
    options: FRAMING_OPTIONS,
    allowPositionals: true,
    strict: true,
  });
  const framing = framingFrom(values);
  const target = {
    hostname: values.host,
    port: integerFlag("port", values.port, PEER_PORT),
    api: apiFrom(values.api),
  };
  const messages = positionals.map((m) => new TextEncoder().encode(m));
  const replies = framing.kind === "json"
    ? await exchange(
      target,
      framing.codec,
      messages.map((body) => ({ header: {}, body })),
      (f) => f.body,
    )
    : await exchange(target, framing.codec, messages, (f) => f);
  for (const reply of replies) console.log(new TextDecoder().decode(reply));
}

/** Sends every frame (all written before any reply is read), then collects one reply per frame. */
async function exchange<T>(
  target: { hostname?: string; port: number; api: SocketApi },
  codec: Codec<T>,
  frames: T[],
  bodyOf: (frame: T) => Uint8Array,
): Promise<Uint8Array[]> {
  const conn = await connect({ ...target, codec });
  const replies: Uint8Array[] = [];
  // Receive concurrently, so replies larger than the socket buffers cannot deadlock the writes.
  const received = conn.onFrame((frame) => {
    replies.push(bodyOf(frame));
    if (replies.length === frames.length) conn.close();
  });
  for (const frame of frames) conn.write(frame);
  if (frames.length === 0) conn.close();
  await conn.flush();
  await received;
  if (replies.length < frames.length) {
    throw new Error(
      `the server closed the connection after ${replies.length} of ${frames.length} replies`,
    );
  }
  return replies;
}

/**
 * Prints the listening line, waits for SIGINT/SIGTERM, lets `stop` clean up (killing commands,
 * removing temporary files) for at most STOP_WAIT_MS, then exits 0.
 */
async function serveUntilSignal(
  hostname: string,
  port: number,
  stop: () => Promise<void>,
): Promise<void> {
  console.log(`listening on ${hostname}:${port}`);
  await new Promise<void>((resolve) => {
    process.on("SIGINT", resolve);
    process.on("SIGTERM", resolve);
  });
  // A client that never stops sending must not hold the exit hostage.
  await Promise.race([
    stop().catch(() => {}),
    new Promise((resolve) => setTimeout(resolve, STOP_WAIT_MS)),
  ]);
  process.exit(0);
}

const STOP_WAIT_MS = 5000;

async function stickyDemoCommand(args: string[]): Promise<void> {
  const { values } = parseArgs({
    args,
    options: { api: { type: "string", default: "native" } },
    strict: true,
  });
  const { stickyDemo } = await import("./examples/sticky_demo.ts");
  await stickyDemo(apiFrom(values.api));
}

async function udpDemoCommand(args: string[]): Promise<void> {
  const { values } = parseArgs({
    args,
    options: { api: { type: "string", default: "native" } },
    strict: true,
  });
  const { udpDemo } = await import("./examples/udp_demo.ts");
  await udpDemo(apiFrom(values.api));
}

async function execServerCommand(args: string[]): Promise<void> {
  const { values } = parseArgs({
    args,
    options: {
      host: { type: "string", default: "127.0.0.1" },
      port: { type: "string" },
      token: { type: "string" },
      timeout: { type: "string" },
      "max-output": { type: "string" },
      "max-concurrent": { type: "string" },
      api: { type: "string", default: "native" },
    },
    strict: true,
  });
  const host = values.host!;
  // Checked here too so that each mistake is a usage error (exit 2), not a runtime failure.
  if (values.token !== undefined && badToken(values.token) !== null) {
    throw new UsageError(`--token: ${badToken(values.token)}`);
  }
  if (!isLoopback(host) && values.token === undefined) {
    throw new UsageError(`refusing to serve commands on ${host} without --token`);
  }
  const server = await execServer({
    hostname: host,
    port: integerFlag("port", values.port, LISTEN_PORT, 0),
    token: values.token,
    timeout: optionalIntegerFlag("timeout", values.timeout, TIMEOUT),
    maxOutput: optionalIntegerFlag("max-output", values["max-output"], MAX_OUTPUT),
    maxConcurrent: optionalIntegerFlag("max-concurrent", values["max-concurrent"], MAX_CONCURRENT),
    api: apiFrom(values.api),
  });
  await serveUntilSignal(server.address.hostname, server.address.port, () => server.shutdown());
}

async function execCommand(args: string[]): Promise<void> {
  const { values, positionals } = parseArgs({
    args,
    options: {
      host: { type: "string", default: "127.0.0.1" },
      port: { type: "string" },
      token: { type: "string" },
    },
    allowPositionals: true,
    strict: true,
  });
  const port = integerFlag("port", values.port, PEER_PORT);
  // No server accepts a blank token: sending one is a mistake here, not a refusal there.
  if (values.token !== undefined && badToken(values.token) !== null) {
    throw new UsageError(`--token: ${badToken(values.token)}`);
  }
  if (positionals.length === 0) {
    throw new UsageError("exec needs a command: exec --port P -- CMD ARG…");
  }
  const reply = await execRemote(
    { hostname: values.host, port, token: values.token },
    positionals,
  );
  await new Promise<void>((resolve) => process.stdout.write(reply.stdout, () => resolve()));
  await new Promise<void>((resolve) => process.stderr.write(reply.stderr, () => resolve()));
  if (reply.truncated) console.error("framed exec: output truncated at the server's --max-output");
  if (reply.timedOut) {
    console.error("framed exec: the command timed out and was killed");
    process.exit(124);
  }
  process.exit(reply.exitCode ?? 128);
}

async function fileServerCommand(args: string[]): Promise<void> {
  const { values } = parseArgs({
    args,
    options: {
      dir: { type: "string" },
      host: { type: "string", default: "127.0.0.1" },
      port: { type: "string" },
      "max-size": { type: "string" },
      api: { type: "string", default: "native" },
    },
    strict: true,
  });
  if (values.dir === undefined) throw new UsageError("--dir is required");
  const port = integerFlag("port", values.port, LISTEN_PORT, 0);
  const maxSize = optionalIntegerFlag("max-size", values["max-size"], MAX_SIZE);
  const api = apiFrom(values.api);
  // A missing folder would fail every request: refuse to start instead.
  const badDir = await badServedDir(values.dir);
  if (badDir !== null) throw new UsageError(badDir);
  const server = await fileServer({
    dir: values.dir,
    hostname: values.host,
    port,
    maxSize,
    api,
    onError: (error) =>
      console.error(`framed file-server: ${error instanceof Error ? error.message : error}`),
  });
  if (server.staleRemoved > 0) {
    console.error(
      `framed file-server: removed ${server.staleRemoved} unfinished upload(s) left by an earlier run`,
    );
  }
  await serveUntilSignal(server.hostname, server.port, () => server.close());
}

async function putCommand(args: string[]): Promise<void> {
  const { values, positionals } = parseArgs({
    args,
    options: { host: { type: "string", default: "127.0.0.1" }, port: { type: "string" } },
    allowPositionals: true,
    strict: true,
  });
  const port = integerFlag("port", values.port, PEER_PORT);
  if (positionals.length !== 1) throw new UsageError("put takes one FILE");
  const reply = await putFile({ hostname: values.host, port }, positionals[0]!);
  console.log(`uploaded ${reply.file_name}: ${reply.stored_bytes} bytes, sha256 ${reply.sha256}`);
}

async function getCommand(args: string[]): Promise<void> {
  const { values, positionals } = parseArgs({
    args,
    options: {
      host: { type: "string", default: "127.0.0.1" },
      port: { type: "string" },
      out: { type: "string" },
    },
    allowPositionals: true,
    strict: true,
  });
  const port = integerFlag("port", values.port, PEER_PORT);
  if (positionals.length !== 1 || values.out === undefined) {
    throw new UsageError("get takes NAME and --out FILE");
  }
  const reply = await getFile({ hostname: values.host, port }, positionals[0]!, values.out);
  console.log(`downloaded ${reply.file_name}: ${reply.file_size} bytes, sha256 ${reply.sha256}`);
}

const COMMANDS: Record<string, (args: string[]) => Promise<void>> = {
  echo,
  send,
  "sticky-demo": stickyDemoCommand,
  "exec-server": execServerCommand,
  exec: execCommand,
  "file-server": fileServerCommand,
  put: putCommand,
  get: getCommand,
  "udp-demo": udpDemoCommand,
};

async function main(argv: string[]): Promise<number> {
  const [command, ...rest] = argv;
  if (command === undefined || command === "--help" || command === "-h" || command === "help") {
    console.log(USAGE);
    return command === undefined ? 2 : 0;
  }
  const run = COMMANDS[command];
  if (run === undefined) {
    console.error(`framed: unknown command ${command}\n${USAGE}`);
    return 2;
  }
  try {
    await run(rest);
    return 0;
  } catch (error) {
    if (
      error instanceof UsageError || (error as { code?: string }).code?.startsWith("ERR_PARSE_ARGS")
    ) {
      console.error(`framed ${command}: ${(error as Error).message}\n${USAGE}`);
      return 2;
    }
    console.error(`framed ${command}: ${error instanceof Error ? error.message : String(error)}`);
    return 1;
  }
}

// Deno and Bun say whether this file is the entry point; Node 20 does not, so compare the path
// Node was started with (tsx runs `node --import tsx cli.ts`).
const isEntryPoint = import.meta.main ??
  (process.argv[1] !== undefined &&
    realpathSync(process.argv[1]) === fileURLToPath(import.meta.url));
if (isEntryPoint) process.exit(await main(process.argv.slice(2)));
