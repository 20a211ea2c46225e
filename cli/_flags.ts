// The flags the commands share, each defined once: the parseArgs option, the check that turns its
// text into a value (a mistake is a UsageError: exit 2), and the line that explains it in --help.

import { readFileSync } from "node:fs";
import { parseArgs, type ParseArgsOptionsConfig } from "node:util";
import {
  type Codec,
  DEFAULT_MAX_FRAME_LENGTH,
  DEFAULT_MAX_RECORD_LENGTH,
  delimiter,
  isLengthFormat,
  type JsonHeader,
  jsonHeader,
  type JsonHeaderFrame,
  LENGTH_FORMATS,
  type LengthFormat,
  lengthPrefix,
  maxLengthOf,
  type ProxyProtocolVersion,
  pythonJsonDumps,
  type SocketApi,
  type TcpConnectOptions,
  type TcpListenOptions,
} from "../mod.ts";
import { badToken, EXEC_LIMITS } from "../programs/exec.ts";
import { DEFAULT_MAX_UPLOAD } from "../programs/file_transfer.ts";

/** A usage mistake: printed with the command's help, exit code 2. */
export class UsageError extends Error {}

/**
 * An error as the one line a command prints: its message with line breaks folded (OpenSSL's
 * messages, through node:tls, span lines).
 */
export function errorText(error: unknown): string {
  const message = error instanceof Error ? error.message : String(error);
  return message.split("\n").map((line) => line.trim()).filter((line) => line !== "").join(" ");
}

// ── parseArgs options ────────────────────────────────────────────────────────────────────────────

// No defaults for --host and --port here: `--unix` must see whether they were given. The
// defaults are applied in listenFrom and peerFrom.

/** Where a server listens: TCP (`--host`, `--port`), TLS on top, or a unix socket; the socket API. */
export const LISTEN_OPTIONS = {
  host: { type: "string" },
  port: { type: "string" },
  "tls-cert": { type: "string" },
  "tls-key": { type: "string" },
  unix: { type: "string" },
  api: { type: "string", default: "native" },
} as const;

/** The server a client talks to: TCP, TLS on top (`--tls`, `--ca`, `--servername`), or unix. */
export const PEER_OPTIONS = {
  host: { type: "string" },
  port: { type: "string" },
  tls: { type: "boolean" },
  ca: { type: "string" },
  servername: { type: "string" },
  unix: { type: "string" },
  api: { type: "string", default: "native" },
} as const;

/** `--api` alone, for the demos (they pick their own ports). */
export const API_OPTION = { api: LISTEN_OPTIONS.api } as const;

/** How `echo` and `send` frame their bytes (each adds where to listen or connect). */
export const FRAMING_OPTIONS = {
  framing: { type: "string" },
  "length-format": { type: "string", default: "u32be" },
  "max-frame": { type: "string" },
  "length-offset": { type: "string" },
  "length-adjustment": { type: "string" },
  strip: { type: "string" },
  delimiter: { type: "string", default: "\\n" },
} as const;

/** How `connect` (and `listen --reply-from-stdin`) read stdin and print frames. */
export const STDIO_OPTIONS = {
  input: { type: "string" },
  output: { type: "string" },
  header: { type: "string" },
} as const;

/** What parseArgs returns for `options`, with positional arguments allowed. */
type ParsedArgs<O extends ParseArgsOptionsConfig> = ReturnType<
  typeof parseArgs<{ args: string[]; options: O; allowPositionals: true; strict: true }>
>;

/** parseArgs for a command that takes arguments besides its flags; an unknown flag is an error. */
export function parseWithPositionals<O extends ParseArgsOptionsConfig>(
  args: string[],
  options: O,
): ParsedArgs<O> {
  return parseArgs({ args, options, allowPositionals: true, strict: true });
}

// ── Integer flags ────────────────────────────────────────────────────────────────────────────────

/** An integer flag's range and unit: stated in the help and in every refusal. */
export interface IntegerSpec {
  min: number;
  max: number;
  unit: string;
}

const LISTEN_PORT: IntegerSpec = {
  min: 0,
  max: 65_535,
  unit: "TCP port, 0 for any free one",
};
const PEER_PORT: IntegerSpec = { min: 1, max: 65_535, unit: "TCP port" };
const MAX_FRAME: IntegerSpec = { min: 0, max: Number.MAX_SAFE_INTEGER, unit: "bytes" };
const LENGTH_OFFSET: IntegerSpec = {
  min: 0,
  max: Number.MAX_SAFE_INTEGER,
  unit: "bytes before the length field",
};
const LENGTH_ADJUSTMENT: IntegerSpec = {
  min: -Number.MAX_SAFE_INTEGER,
  max: Number.MAX_SAFE_INTEGER,
  unit: "bytes added to the length field's value",
};
const STRIP: IntegerSpec = { min: 0, max: Number.MAX_SAFE_INTEGER, unit: "bytes" };
export const TIMEOUT: IntegerSpec = { ...EXEC_LIMITS.timeout, unit: "seconds" };
export const MAX_OUTPUT: IntegerSpec = { ...EXEC_LIMITS.maxOutput, unit: "bytes" };
export const MAX_CONCURRENT: IntegerSpec = { ...EXEC_LIMITS.maxConcurrent, unit: "commands" };
export const MAX_SIZE: IntegerSpec = { min: 0, max: Number.MAX_SAFE_INTEGER, unit: "bytes" };
// setTimeout's largest delay.
export const WAIT: IntegerSpec = { min: 0, max: 2_147_483_647, unit: "milliseconds" };

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
  // Only a range that goes below 0 takes a minus sign.
  const number = (spec.min < 0 ? /^-?\d+$/ : /^\d+$/).test(value) ? Number(value) : NaN;
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
export function optionalIntegerFlag(
  name: string,
  value: string | undefined,
  spec: IntegerSpec,
): number | undefined {
  return value === undefined ? undefined : integerFlag(name, value, spec);
}

// ── Sockets ──────────────────────────────────────────────────────────────────────────────────────

export function apiFrom(value: string | undefined): SocketApi {
  if (value === "native" || value === "node") return value;
  throw new UsageError(`--api must be native or node`);
}

// ── PROXY protocol ───────────────────────────────────────────────────────────────────────────────

/** `--proxy-protocol v1|v2|any` and `--verbose`, for `echo`. */
export const PROXY_OPTIONS = {
  "proxy-protocol": { type: "string" },
  verbose: { type: "boolean" },
} as const;

/** The help lines of {@linkcode PROXY_OPTIONS}. */
export const PROXY_FLAGS_HELP: readonly FlagHelp[] = [
  ["--proxy-protocol", "v1, v2 or any: every connection must begin with that PROXY header"],
  ["--verbose", "print `connection from HOST:PORT` (the original client) per connection"],
];

/**
 * `--proxy-protocol`: `undefined` when not given. It needs a TCP listener without TLS (the
 * header would come before the TLS handshake, which framed does not read yet).
 */
export function proxyProtocolFrom(
  value: string | undefined,
  where: ListenEndpoint,
): ProxyProtocolVersion | undefined {
  if (value === undefined) return undefined;
  if (value !== "v1" && value !== "v2" && value !== "any") {
    throw new UsageError(`--proxy-protocol must be v1, v2 or any`);
  }
  if ("path" in where) throw new UsageError("--proxy-protocol cannot be combined with --unix");
  if (where.tls !== undefined) {
    throw new UsageError("--proxy-protocol cannot be combined with --tls-cert and --tls-key yet");
  }
  return value;
}

/** What parseArgs gives for `options`: a boolean for a boolean flag, text for the others. */
type ValuesOf<O> = { [K in keyof O]?: O[K] extends { type: "boolean" } ? boolean : string };

/**
 * Where a server listens, as `serve`, `listenStreams` and the programs take it: a TCP address
 * (TLS when `tls` is set) or a unix socket's `path`.
 */
export type ListenEndpoint =
  | { api: SocketApi; hostname: string; port: number; tls?: TcpListenOptions["tls"] }
  | { api: SocketApi; path: string };

/** The server a client talks to, as `connect` and the programs take it: TCP, TLS or unix. */
export type PeerEndpoint =
  | { api: SocketApi; hostname: string; port: number; tls?: TcpConnectOptions["tls"] }
  | { api: SocketApi; path: string };

/** The TCP flags given besides `--unix`, which has no host, port or TLS: none may be. */
function refuseWithUnix(values: Record<string, unknown>, tcpFlags: readonly string[]): void {
  const given = tcpFlags.filter((flag) => values[flag] !== undefined);
  if (given.length > 0) {
    throw new UsageError(
      `--unix cannot be combined with ${
        given.map((flag) => `--${flag}`).join(", ")
      }: a unix socket has no host, port or TLS`,
    );
  }
  if (values.unix === "") throw new UsageError("--unix needs a socket file path");
}

/**
 * Reads a PEM file named by `--flag`: a file that cannot be read, or holds no PEM block, is a
 * usage error naming the flag and the file (before anything listens or connects).
 */
function pemFile(flag: string, path: string): string {
  let text: string;
  try {
    text = readFileSync(path, "utf8");
  } catch (error) {
    const code = (error as { code?: unknown }).code;
    const reasons: Record<string, string> = {
      ENOENT: "no such file",
      EACCES: "permission denied",
      EISDIR: "it is a directory",
    };
    const reason = (typeof code === "string" ? reasons[code] : undefined) ??
      (error instanceof Error ? error.message : String(error));
    throw new UsageError(`--${flag} ${path}: ${reason}`);
  }
  if (!text.includes("-----BEGIN ")) {
    throw new UsageError(`--${flag} ${path}: not a PEM file (no "-----BEGIN" line)`);
  }
  return text;
}

/**
 * Where a server listens: `--unix PATH`, or `--host` (default 127.0.0.1) and `--port` (0, any free
 * port, when missing), with TLS when `--tls-cert` and `--tls-key` (both or neither) name PEM files.
 */
export function listenFrom(values: ValuesOf<typeof LISTEN_OPTIONS>): ListenEndpoint {
  const api = apiFrom(values.api);
  if (values.unix !== undefined) {
    refuseWithUnix(values, ["host", "port", "tls-cert", "tls-key"]);
    return { api, path: values.unix };
  }
  const endpoint = {
    api,
    hostname: values.host ?? "127.0.0.1",
    port: integerFlag("port", values.port, LISTEN_PORT, 0),
  };
  const [cert, key] = [values["tls-cert"], values["tls-key"]];
  if ((cert === undefined) !== (key === undefined)) {
    throw new UsageError(
      `--tls-cert and --tls-key go together: give both (TLS) or neither (plain TCP)`,
    );
  }
  if (cert === undefined || key === undefined) return endpoint;
  return { ...endpoint, tls: { cert: pemFile("tls-cert", cert), key: pemFile("tls-key", key) } };
}

/**
 * The server a client talks to: `--unix PATH`, or `--host` (default 127.0.0.1) and `--port`
 * (required), over TLS with `--tls` (trusting `--ca` or the system's roots, checking
 * `--servername` or the host).
 */
export function peerFrom(values: ValuesOf<typeof PEER_OPTIONS>): PeerEndpoint {
  const api = apiFrom(values.api);
  if (values.unix !== undefined) {
    refuseWithUnix(values, ["host", "port", "tls", "ca", "servername"]);
    return { api, path: values.unix };
  }
  const endpoint = {
    api,
    hostname: values.host ?? "127.0.0.1",
    port: integerFlag("port", values.port, PEER_PORT),
  };
  if (values.tls !== true) {
    const tlsOnly = (["ca", "servername"] as const).filter((flag) => values[flag] !== undefined);
    if (tlsOnly.length > 0) {
      const flags = tlsOnly.map((flag) => `--${flag}`);
      throw new UsageError(`${flags.join(" and ")} ${flags.length > 1 ? "need" : "needs"} --tls`);
    }
    return endpoint;
  }
  if (values.servername === "") throw new UsageError("--servername must not be empty");
  const ca = values.ca === undefined ? undefined : pemFile("ca", values.ca);
  const tls = ca === undefined && values.servername === undefined ? true : {
    ...(ca === undefined ? {} : { ca }),
    ...(values.servername === undefined ? {} : { servername: values.servername }),
  };
  return { ...endpoint, tls };
}

/**
 * A client command's arguments: its own `options` besides where to connect (`PEER_OPTIONS`),
 * which are checked into `peer` first; positional arguments are allowed.
 */
export function parseClientArgs<O extends ParseArgsOptionsConfig = Record<never, never>>(
  args: string[],
  options?: O,
): ParsedArgs<typeof PEER_OPTIONS & O> & { peer: PeerEndpoint } {
  const parsed = parseWithPositionals(
    args,
    { ...PEER_OPTIONS, ...options } as typeof PEER_OPTIONS & O,
  );
  return { ...parsed, peer: peerFrom(parsed.values) };
}

/** `--token`: absent, or a usable token (no server accepts a blank one, so it is a usage error). */
export function tokenFrom(value: string | undefined): string | undefined {
  const bad = value === undefined ? null : badToken(value);
  if (bad !== null) throw new UsageError(`--token: ${bad}`);
  return value;
}

// ── Framing ──────────────────────────────────────────────────────────────────────────────────────

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

/** A codec chosen by `--framing`: raw byte frames, or JSON-header frames. */
export type AnyFraming =
  | { kind: "bytes"; codec: Codec<Uint8Array>; maxFrame: number }
  | { kind: "json"; codec: Codec<JsonHeaderFrame>; maxFrame: number };

/**
 * The length-prefix codec of `--length-format`, `--max-frame`, `--length-offset`,
 * `--length-adjustment` and `--strip`: a layout it cannot decode, or (since every command with
 * framing flags also writes frames) encode, is a usage error.
 */
function lengthCodec(
  values: { [K in keyof typeof FRAMING_OPTIONS]?: string },
  format: LengthFormat,
  maxFrame: number | undefined,
): Codec<Uint8Array> {
  const layout = {
    lengthFieldOffset: optionalIntegerFlag("length-offset", values["length-offset"], LENGTH_OFFSET),
    lengthAdjustment: optionalIntegerFlag(
      "length-adjustment",
      values["length-adjustment"],
      LENGTH_ADJUSTMENT,
    ),
    stripBytes: optionalIntegerFlag("strip", values.strip, STRIP),
  };
  const flags = "--length-offset, --length-adjustment and --strip";
  let codec: Codec<Uint8Array>;
  try {
    codec = lengthPrefix({ lengthFormat: format, maxFrameLength: maxFrame, ...layout });
  } catch (error) {
    if (!(error instanceof RangeError || error instanceof TypeError)) throw error;
    throw new UsageError(`${flags} do not fit together: ${error.message}`);
  }
  try {
    // The encoder refuses a layout it cannot write with a TypeError, before looking at the frame.
    codec.encode(new Uint8Array(0));
  } catch (error) {
    if (error instanceof TypeError) {
      throw new UsageError(`${flags}: frames are written too, but ${error.message}`);
    }
  }
  return codec;
}

/**
 * The codec that `--framing`, `--length-format`, `--max-frame`, `--delimiter` and the length-field
 * flags describe, and the largest frame it sends. `stringifyHeader` writes json-header headers
 * (default: as Python's json.dumps).
 */
export function framingFrom(
  values: { [K in keyof typeof FRAMING_OPTIONS]?: string },
  stringifyHeader: (header: JsonHeader) => string = pythonJsonDumps,
): AnyFraming {
  const format = values["length-format"]!;
  if (!isLengthFormat(format)) throw new UsageError(`unknown --length-format ${format}`);
  const maxFrame = optionalIntegerFlag("max-frame", values["max-frame"], MAX_FRAME);
  const layoutFlags = (["length-offset", "length-adjustment", "strip"] as const)
    .filter((flag) => values[flag] !== undefined);
  if (
    layoutFlags.length > 0 && (values.framing === "delimiter" || values.framing === "json-header")
  ) {
    throw new UsageError(
      `${layoutFlags.map((flag) => `--${flag}`).join(", ")} only go with --framing length`,
    );
  }
  switch (values.framing) {
    case "length":
      return {
        kind: "bytes",
        codec: lengthCodec(values, format, maxFrame),
        // A u8 or u16 length cannot announce more, whatever --max-frame says.
        maxFrame: Math.min(maxFrame ?? DEFAULT_MAX_FRAME_LENGTH, maxLengthOf(format)),
      };
    case "delimiter": {
      const end = unescape(values.delimiter!);
      if (end.length === 0) throw new UsageError("--delimiter must not be empty");
      return {
        kind: "bytes",
        codec: delimiter({ delimiter: end, maxRecordLength: maxFrame }),
        maxFrame: maxFrame ?? DEFAULT_MAX_RECORD_LENGTH,
      };
    }
    case "json-header":
      // pythonJsonDumps makes `send` byte-for-byte the seed's json.dumps + struct.pack program.
      return {
        kind: "json",
        codec: jsonHeader({
          lengthFormat: format,
          maxBodyLength: maxFrame,
          stringify: stringifyHeader,
        }),
        maxFrame: maxFrame ?? DEFAULT_MAX_FRAME_LENGTH,
      };
    case undefined:
      throw new UsageError("--framing is required: length, delimiter or json-header");
    default:
      throw new UsageError(`--framing must be length, delimiter or json-header`);
  }
}

// ── Help ─────────────────────────────────────────────────────────────────────────────────────────

/** One flag in a help text: the flag, then what it takes (unit, range, default). */
export type FlagHelp = readonly [flag: string, text: string];

const range = (spec: IntegerSpec) => `${spec.min}–${spec.max} ${spec.unit}`;

/** The help line of every flag used by more than one command, and of every integer flag. */
export const FLAG_HELP = {
  listenHost: ["--host", "address to listen on (default 127.0.0.1)"],
  peerHost: ["--host", "address of the server (default 127.0.0.1)"],
  listenPort: ["--port", `${range(LISTEN_PORT)} (default 0)`],
  peerPort: ["--port", `${range(PEER_PORT)} (required)`],
  api: ["--api", "native (the runtime's own sockets) or node (node:net) (default native)"],
  tlsCert: ["--tls-cert", "PEM certificate chain, leaf first: serve TLS (needs --tls-key)"],
  tlsKey: ["--tls-key", "PEM private key of that certificate, unencrypted (needs --tls-cert)"],
  listenUnix: ["--unix", "listen on this unix socket file instead of TCP (no --host/--port/TLS)"],
  tls: ["--tls", "speak TLS; the server's certificate is always verified"],
  ca: ["--ca", "PEM file of the CA(s) to trust instead of the system's roots (with --tls)"],
  servername: [
    "--servername",
    "the name to send (SNI) and check in the certificate (with --tls; default --host)",
  ],
  peerUnix: ["--unix", "connect to this unix socket file instead of TCP (no --host/--port/TLS)"],
  framing: ["--framing", "length, delimiter or json-header (required)"],
  lengthFormat: [
    "--length-format",
    `${LENGTH_FORMATS.join(" ")} (default u32be)`,
  ],
  maxFrame: [
    "--max-frame",
    `${range(MAX_FRAME)} (default ${DEFAULT_MAX_FRAME_LENGTH}; ` +
    `${DEFAULT_MAX_RECORD_LENGTH} for delimiter)`,
  ],
  lengthOffset: ["--length-offset", `${range(LENGTH_OFFSET)} (default 0)`],
  lengthAdjustment: [
    "--length-adjustment",
    `${range(LENGTH_ADJUSTMENT)} to give the bytes after it (default 0; ` +
    `a negative one as --length-adjustment=-N)`,
  ],
  strip: ["--strip", `${range(STRIP)} cut from each frame's start (default: the whole header)`],
  delimiter: ["--delimiter", "the record end; escapes \\n \\r \\t \\0 \\\\ \\xHH (default \\n)"],
  token: ["--token", "the shared secret; never empty or whitespace"],
  timeout: [
    "--timeout",
    `${range(TIMEOUT)} before a command's process group is killed ` +
    `(default ${EXEC_LIMITS.timeout.default})`,
  ],
  maxOutput: [
    "--max-output",
    `${range(MAX_OUTPUT)} kept of stdout and of stderr each ` +
    `(default ${EXEC_LIMITS.maxOutput.default})`,
  ],
  maxConcurrent: [
    "--max-concurrent",
    `${range(MAX_CONCURRENT)} at once; more get a "busy" refusal ` +
    `(default ${EXEC_LIMITS.maxConcurrent.default})`,
  ],
  maxSize: ["--max-size", `${range(MAX_SIZE)}, the largest upload (default ${DEFAULT_MAX_UPLOAD})`],
  input: [
    "--input",
    "lines (one frame per line), raw (all of stdin, one frame), hex or base64 (each line " +
    "decoded first) (default lines)",
  ],
  output: [
    "--output",
    "text (escaped UTF-8), hex, base64 or json (one object per frame) (default text)",
  ],
  header: [
    "--header",
    'a JSON object: the header of every frame sent (json-header; default {}; "data_size" is added)',
  ],
  wait: [
    "--wait",
    `${range(WAIT)} without a new frame after stdin ends, then exit; no FIN is sent (default: ` +
    "send FIN, wait for the server to end)",
  ],
} as const satisfies Record<string, FlagHelp>;

/** The framing flags besides `--framing`, for every command that frames (echo, send, connect, listen). */
export const FRAMING_DETAIL_FLAGS_HELP: readonly FlagHelp[] = [
  FLAG_HELP.lengthFormat,
  FLAG_HELP.maxFrame,
  FLAG_HELP.lengthOffset,
  FLAG_HELP.lengthAdjustment,
  FLAG_HELP.strip,
  FLAG_HELP.delimiter,
];

/** Where a server listens, for every server command's help (`--api` goes last, on its own). */
export const LISTEN_FLAGS_HELP: readonly FlagHelp[] = [
  FLAG_HELP.listenHost,
  FLAG_HELP.listenPort,
  FLAG_HELP.tlsCert,
  FLAG_HELP.tlsKey,
  FLAG_HELP.listenUnix,
];

/** The server a client talks to, for every client command's help (`--api` goes last). */
export const PEER_FLAGS_HELP: readonly FlagHelp[] = [
  FLAG_HELP.peerPort,
  FLAG_HELP.peerHost,
  FLAG_HELP.tls,
  FLAG_HELP.ca,
  FLAG_HELP.servername,
  FLAG_HELP.peerUnix,
];

/** The synopsis of where a server listens, for every server command's help. */
export const LISTEN_SYNOPSIS =
  "([--host 127.0.0.1] [--port 0] [--tls-cert FILE --tls-key FILE] | --unix PATH)";
/** The synopsis of the server a client talks to, for every client command's help. */
export const PEER_SYNOPSIS =
  "(--port P [--host H] [--tls [--ca FILE] [--servername NAME]] | --unix PATH)";

/** Every integer flag of every command, for `framed --help`. */
export const INTEGER_FLAGS_HELP: readonly FlagHelp[] = [
  [
    "--port",
    `${LISTEN_PORT.min}–${LISTEN_PORT.max} to listen (0: any free port, the default), ` +
    `${PEER_PORT.min}–${PEER_PORT.max} to connect`,
  ],
  FLAG_HELP.maxFrame,
  FLAG_HELP.lengthOffset,
  FLAG_HELP.lengthAdjustment,
  FLAG_HELP.strip,
  FLAG_HELP.timeout,
  FLAG_HELP.maxOutput,
  FLAG_HELP.maxConcurrent,
  FLAG_HELP.maxSize,
  FLAG_HELP.wait,
];

/** How wide help text may be: 100 columns, as this repository's code. */
const HELP_WIDTH = 100;

/** Flags one per line, their explanations aligned and wrapped within HELP_WIDTH. */
export function flagLines(flags: readonly FlagHelp[]): string {
  const indent = " ".repeat(23);
  return flags.map(([flag, text]) => {
    const lines = [`  ${flag.padEnd(19)} `];
    for (const word of text.split(" ")) {
      const last = lines.length - 1;
      if (lines[last]!.length + 1 + word.length > HELP_WIDTH && lines[last] !== indent) {
        lines.push(indent + word);
      } else lines[last] += ` ${word}`;
    }
    return lines.join("\n");
  }).join("\n");
}

/** An example in a help text: what it does, then the command line. */
export type Example = readonly [what: string, command: string];

/**
 * A command's help: its synopsis, what it does, each flag with its unit and default, then
 * examples to copy.
 */
export function commandHelp(
  synopsis: string,
  about: string,
  flags: readonly FlagHelp[],
  examples: readonly Example[] = [],
): string {
  const exampleLines = examples.map(([what, command]) => `  # ${what}\n  ${command}`);
  return `usage: framed ${synopsis}\n\n${about}\n${
    flags.length > 0 ? `\n${flagLines(flags)}\n` : ""
  }${examples.length > 0 ? `\nexamples:\n${exampleLines.join("\n\n")}\n` : ""}`;
}
