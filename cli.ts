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

import process from "node:process";
import { parseArgs } from "node:util";
import {
  type Codec,
  connect,
  delimiter,
  isLengthFormat,
  jsonHeader,
  type JsonHeaderFrame,
  lengthPrefix,
  pythonJsonDumps,
  serve,
  type SocketApi,
} from "./mod.ts";

const USAGE = `usage: framed <command> [options]

commands:
  echo         --framing length|delimiter|json-header [--length-format FMT] [--max-frame BYTES]
               [--delimiter STR] [--host 127.0.0.1] [--port 0] [--api native|node]
  send         --framing … --port P [--host H] [--length-format FMT] [--delimiter STR] MESSAGE…
  sticky-demo  [--api native|node]          reproduce sticky packets, then fix them
  exec-server  [--host 127.0.0.1] [--port 0] [--token T] [--timeout SEC] [--max-output BYTES]
  exec         --port P [--host H] [--token T] -- CMD ARG…
  file-server  --dir DIR [--host 127.0.0.1] [--port 0] [--max-size BYTES]
  put          --port P [--host H] FILE
  get          --port P [--host H] NAME --out FILE
  udp-demo     [--api native|node]          UDP keeps boundaries, and loses datagrams

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

function integerFlag(name: string, value: string | undefined, fallback?: number): number {
  if (value === undefined) {
    if (fallback === undefined) throw new UsageError(`--${name} is required`);
    return fallback;
  }
  if (!/^\d+$/.test(value)) {
    throw new UsageError(`--${name} must be a non-negative integer, got ${value}`);
  }
  return Number(value);
}

type AnyFraming =
  | { kind: "bytes"; codec: Codec<Uint8Array> }
  | { kind: "json"; codec: Codec<JsonHeaderFrame> };

function framingFrom(values: FramingValues): AnyFraming {
  const format = values["length-format"]!;
  if (!isLengthFormat(format)) throw new UsageError(`unknown --length-format ${format}`);
  const maxFrame = values["max-frame"] === undefined
    ? undefined
    : integerFlag("max-frame", values["max-frame"]);
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
    port: integerFlag("port", values.port, 0),
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
    port: integerFlag("port", values.port),
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

/** Prints the listening line, then waits for SIGINT/SIGTERM and exits 0. */
async function serveUntilSignal(hostname: string, port: number, stop: () => void): Promise<void> {
  console.log(`listening on ${hostname}:${port}`);
  await new Promise<void>((resolve) => {
    process.on("SIGINT", resolve);
    process.on("SIGTERM", resolve);
  });
  stop();
  process.exit(0);
}

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
      timeout: { type: "string", default: "10" },
      "max-output": { type: "string" },
      api: { type: "string", default: "native" },
    },
    strict: true,
  });
  const { execServer, isLoopback } = await import("./examples/exec.ts");
  const host = values.host!;
  // Checked here too so that the mistake is a usage error (exit 2), not a runtime failure.
  if (!isLoopback(host) && values.token === undefined) {
    throw new UsageError(`refusing to serve commands on ${host} without --token`);
  }
  const server = await execServer({
    hostname: host,
    port: integerFlag("port", values.port, 0),
    token: values.token,
    timeout: Number(values.timeout),
    maxOutput: values["max-output"] === undefined
      ? undefined
      : integerFlag("max-output", values["max-output"]),
    api: apiFrom(values.api),
  });
  await serveUntilSignal(
    server.address.hostname,
    server.address.port,
    () => void server.shutdown(),
  );
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
  if (positionals.length === 0) {
    throw new UsageError("exec needs a command: exec --port P -- CMD ARG…");
  }
  const { execRemote } = await import("./examples/exec.ts");
  const reply = await execRemote(
    { hostname: values.host, port: integerFlag("port", values.port), token: values.token },
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
  const { fileServer } = await import("./examples/file_transfer.ts");
  const server = await fileServer({
    dir: values.dir,
    hostname: values.host,
    port: integerFlag("port", values.port, 0),
    maxSize: values["max-size"] === undefined
      ? undefined
      : integerFlag("max-size", values["max-size"]),
    api: apiFrom(values.api),
    onError: (error) =>
      console.error(`framed file-server: ${error instanceof Error ? error.message : error}`),
  });
  await serveUntilSignal(server.hostname, server.port, () => server.close());
}

async function putCommand(args: string[]): Promise<void> {
  const { values, positionals } = parseArgs({
    args,
    options: { host: { type: "string", default: "127.0.0.1" }, port: { type: "string" } },
    allowPositionals: true,
    strict: true,
  });
  if (positionals.length !== 1) throw new UsageError("put takes one FILE");
  const { putFile } = await import("./examples/file_transfer.ts");
  const reply = await putFile(
    { hostname: values.host, port: integerFlag("port", values.port) },
    positionals[0]!,
  );
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
  if (positionals.length !== 1 || values.out === undefined) {
    throw new UsageError("get takes NAME and --out FILE");
  }
  const { getFile } = await import("./examples/file_transfer.ts");
  const reply = await getFile(
    { hostname: values.host, port: integerFlag("port", values.port) },
    positionals[0]!,
    values.out,
  );
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

if (import.meta.main) process.exit(await main(process.argv.slice(2)));
