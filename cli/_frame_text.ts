// Frames as lines of text and back, for `connect` and `listen`: stdin becomes frames
// (`--input`), and every received frame becomes one line on stdout (`--output`). Every output form
// is lossless: no byte is dropped or changed without an escape that says so.

import { Buffer } from "node:buffer";
import { fstatSync } from "node:fs";
import process from "node:process";
import { type JsonHeader, type JsonHeaderFrame, rawHeaderText } from "../mod.ts";
import { UsageError } from "./_flags.ts";

/** How stdin becomes frames. */
export type InputMode = "lines" | "raw" | "hex" | "base64";
/** How a received frame becomes a line. */
export type OutputMode = "text" | "hex" | "base64" | "json";

export const INPUT_MODES: readonly InputMode[] = ["lines", "raw", "hex", "base64"];
export const OUTPUT_MODES: readonly OutputMode[] = ["text", "hex", "base64", "json"];

export function inputModeFrom(value: string | undefined): InputMode {
  if (value === undefined) return "lines";
  if ((INPUT_MODES as readonly string[]).includes(value)) return value as InputMode;
  throw new UsageError(`--input must be ${INPUT_MODES.join(", ")}, got ${JSON.stringify(value)}`);
}

export function outputModeFrom(value: string | undefined): OutputMode {
  if (value === undefined) return "text";
  if ((OUTPUT_MODES as readonly string[]).includes(value)) return value as OutputMode;
  throw new UsageError(`--output must be ${OUTPUT_MODES.join(", ")}, got ${JSON.stringify(value)}`);
}

/** The size field of `--framing json-header` (the seed's, and Python's json-header programs'). */
export const SIZE_FIELD = "data_size";

/** `--header JSON`, checked: the fields every sent frame carries (json-header framing only). */
export interface HeaderFlag {
  /** The parsed object, as frames carry it. */
  header: JsonHeader;
  /**
   * Writes a frame's header as the flag's own text with the size field put first, so that what
   * was typed goes out unchanged: serializing the parsed object again would round integers
   * beyond 2^53 and write `1.0` as `1`. `undefined` without `--header`.
   */
  stringify: ((full: JsonHeader) => string) | undefined;
}

export function headerFrom(value: string | undefined, framing: string | undefined): HeaderFlag {
  if (value === undefined) return { header: {}, stringify: undefined };
  if (framing !== "json-header") {
    throw new UsageError("--header only goes with --framing json-header");
  }
  let header: unknown;
  try {
    header = JSON.parse(value);
  } catch {
    throw new UsageError(`--header must be a JSON object, got ${JSON.stringify(value)}`);
  }
  if (typeof header !== "object" || header === null || Array.isArray(header)) {
    throw new UsageError(`--header must be a JSON object, got ${JSON.stringify(value)}`);
  }
  if (SIZE_FIELD in header) {
    throw new UsageError(`--header must not set ${SIZE_FIELD}: each frame's is its body's size`);
  }
  // Parsed, so the trimmed text is `{`, the members as typed, `}`.
  const members = value.trim().slice(1, -1).trim();
  const stringify = (full: JsonHeader) =>
    `{"${SIZE_FIELD}": ${full[SIZE_FIELD]}${members === "" ? "" : `, ${members}`}}`;
  return { header: header as JsonHeader, stringify };
}

// ── Output ───────────────────────────────────────────────────────────────────────────────────────

const HEX = Array.from({ length: 256 }, (_, i) => i.toString(16).padStart(2, "0"));
const SIMPLE_ESCAPES: Record<number, string> = {
  0x5c: "\\\\",
  0x0a: "\\n",
  0x0d: "\\r",
  0x09: "\\t",
};

/** The length of the valid UTF-8 sequence of two or more bytes at `i`, or 0 when there is none. */
function utf8SequenceLength(bytes: Uint8Array, i: number): number {
  const b = bytes[i]!;
  // The second byte's range depends on the first (no overlong forms, no surrogates, ≤ U+10FFFF).
  let length: number, low = 0x80, high = 0xbf;
  if (b >= 0xc2 && b <= 0xdf) length = 2;
  else if (b >= 0xe0 && b <= 0xef) {
    length = 3;
    if (b === 0xe0) low = 0xa0;
    if (b === 0xed) high = 0x9f;
  } else if (b >= 0xf0 && b <= 0xf4) {
    length = 4;
    if (b === 0xf0) low = 0x90;
    if (b === 0xf4) high = 0x8f;
  } else return 0;
  if (i + length > bytes.length) return 0;
  const second = bytes[i + 1]!;
  if (second < low || second > high) return 0;
  for (let k = 2; k < length; k++) {
    if ((bytes[i + k]! & 0xc0) !== 0x80) return 0;
  }
  return length;
}

// ignoreBOM: by default a TextDecoder drops a leading EF BB BF, a byte-order mark, on every
// decode(): a frame's first three bytes would vanish from the output.
const utf8 = new TextDecoder("utf-8", { ignoreBOM: true });

/**
 * The bytes as one line of UTF-8 text that gives them back exactly: `\` is `\\`, LF `\n`, CR `\r`,
 * TAB `\t`, other control characters (C0, DEL and C1) and every byte that is not part of valid
 * UTF-8 `\xHH`. The same escapes `--delimiter` reads.
 */
export function escapeText(bytes: Uint8Array): string {
  let out = "";
  let runStart = 0;
  let i = 0;
  const flushRun = () => {
    if (runStart < i) out += utf8.decode(bytes.subarray(runStart, i));
  };
  while (i < bytes.length) {
    const b = bytes[i]!;
    if (b >= 0x20 && b < 0x7f && b !== 0x5c) {
      i++;
      continue;
    }
    const length = b >= 0x80 ? utf8SequenceLength(bytes, i) : 0;
    // U+0080–U+009F are controls too (U+009B is CSI to some terminals): escaped, byte by byte.
    if (length > 0 && !(b === 0xc2 && bytes[i + 1]! < 0xa0)) {
      i += length;
      continue;
    }
    flushRun();
    out += SIMPLE_ESCAPES[b] ?? `\\x${HEX[b]}`;
    runStart = ++i;
  }
  flushRun();
  return out;
}

/** Whether `bytes` are valid UTF-8 (then `TextDecoder` gives them back unchanged). */
function isUtf8(bytes: Uint8Array): boolean {
  for (let i = 0; i < bytes.length;) {
    if (bytes[i]! < 0x80) i++;
    else {
      const length = utf8SequenceLength(bytes, i);
      if (length === 0) return false;
      i += length;
    }
  }
  return true;
}

function toHex(bytes: Uint8Array): string {
  let out = "";
  for (const b of bytes) out += HEX[b];
  return out;
}

const toBase64 = (bytes: Uint8Array) =>
  Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength).toString("base64");

/** Characters a JSON string may hold raw that a terminal would act on: DEL, C1, bidi controls. */
const UNSAFE_IN_STRINGS = /[\u007f-\u009f\u2028\u2029\u202a-\u202e\u2066-\u2069]/;

/**
 * JSON text on one line: the whitespace between tokens and a leading byte-order mark dropped,
 * DEL, C1 and bidi controls inside strings written as `\uXXXX` (the same value), everything else
 * as it was (a header's numbers must not be rounded by parsing).
 */
export function compactJson(text: string): string {
  let out = "";
  let inString = false;
  for (let i = text.startsWith("\ufeff") ? 1 : 0; i < text.length; i++) {
    const c = text[i]!;
    if (inString) {
      if (UNSAFE_IN_STRINGS.test(c)) out += `\\u${c.charCodeAt(0).toString(16).padStart(4, "0")}`;
      else out += c;
      if (c === "\\") out += text[++i] ?? "";
      else if (c === '"') inString = false;
    } else if (c === '"') {
      inString = true;
      out += c;
    } else if (c !== " " && c !== "\t" && c !== "\n" && c !== "\r") out += c;
  }
  return out;
}

/**
 * One received frame (a body, and its header under json-header framing) as one line, no
 * newline. A header is printed as the text it arrived as (compacted to one line).
 */
export function formatFrame(
  mode: OutputMode,
  frame: Uint8Array | JsonHeaderFrame,
  peer?: string,
): string {
  const [header, body] = frame instanceof Uint8Array
    ? [undefined, frame]
    : [compactJson(rawHeaderText(frame.header) ?? JSON.stringify(frame.header)), frame.body];
  if (mode === "json") {
    // Built by hand around the header's own text, which JSON.stringify would re-serialize.
    const fields = [
      ...(peer === undefined ? [] : [`"peer":${JSON.stringify(peer)}`]),
      ...(header === undefined ? [] : [`"header":${header}`]),
      isUtf8(body)
        ? `"body":${JSON.stringify(utf8.decode(body))}`
        : `"body_base64":${JSON.stringify(toBase64(body))}`,
    ];
    return `{${fields.join(",")}}`;
  }
  const text = mode === "text" ? escapeText(body) : mode === "hex" ? toHex(body) : toBase64(body);
  return header === undefined ? text : `${header} ${text}`;
}

// ── Input ────────────────────────────────────────────────────────────────────────────────────────

/** A stdin line that the chosen `--input` cannot decode. */
export class InputError extends Error {}

const HEX_LINE = /^(?:[0-9a-fA-F]{2})*$/;
const BASE64_LINE = /^(?:[A-Za-z0-9+/]*|[A-Za-z0-9_-]*)={0,2}$/;

function decodeLine(
  mode: "lines" | "hex" | "base64",
  line: Uint8Array,
  number: number,
): Uint8Array {
  if (mode === "lines") return line;
  const text = utf8.decode(line).replace(/[ \t]/g, "");
  if (mode === "hex") {
    if (!HEX_LINE.test(text)) throw new InputError(`stdin line ${number}: not hex`);
    return Buffer.from(text, "hex");
  }
  // One alphabet (standard or url-safe), padding optional but right when present, and no bits
  // past the last byte: the text is the canonical encoding of what it decodes to.
  const bare = text.replace(/=+$/, "");
  const padded = bare.length !== text.length;
  const bytes = Buffer.from(bare, "base64");
  const urlSafe = /[-_]/.test(bare);
  const again = bytes.toString(urlSafe ? "base64url" : "base64").replace(/=+$/, "");
  if (!BASE64_LINE.test(text) || again !== bare || (padded && text.length % 4 !== 0)) {
    throw new InputError(`stdin line ${number}: not base64`);
  }
  return bytes;
}

/**
 * The frames stdin holds, as they arrive, in batches (all the lines of one chunk of stdin): one
 * per line (split on LF; a CR before it is dropped; the last line needs no LF), or the whole of
 * it as one frame with `raw`. A frame can be at most `maxFrame` bytes: stdin that would make a
 * longer one is refused before it is all held in memory.
 * `progress.held` says how many bytes of stdin it holds that are no frame yet.
 * @throws {InputError} On a line that does not decode as `hex` or `base64`, or one too long;
 * the frames before it are yielded first.
 */
export async function* framesFrom(
  chunks: AsyncIterable<Uint8Array>,
  mode: InputMode,
  maxFrame: number,
  progress: { held: number } = { held: 0 },
): AsyncGenerator<Uint8Array[]> {
  // The most bytes of stdin one frame can take: hex spends two characters a byte, base64 four for
  // three, either may be spaced out (at most 3 per byte), a line one more for its CR.
  const most = mode === "hex" || mode === "base64" ? 3 * maxFrame + 4 : maxFrame + 1;
  const tooLong = (what: string) =>
    new InputError(`${what} is longer than --max-frame allows (${maxFrame} bytes)`);
  progress.held = 0;
  if (mode === "raw") {
    const parts: Uint8Array[] = [];
    for await (const chunk of chunks) {
      progress.held += chunk.length;
      if (progress.held > maxFrame) throw tooLong("stdin");
      parts.push(new Uint8Array(chunk));
    }
    progress.held = 0;
    yield [Buffer.concat(parts)];
    return;
  }
  // The start of a line whose LF has not arrived yet, in pieces (one long line stays linear).
  let pending: Uint8Array[] = [];
  let number = 0;
  const lineOf = (last: Uint8Array) => {
    const line = pending.length === 0 ? last : Buffer.concat([...pending, last]);
    pending = [];
    progress.held = 0;
    if (line.length > most) throw tooLong(`stdin line ${number + 1}`);
    return decodeLine(mode, line[line.length - 1] === 0x0d ? line.subarray(0, -1) : line, ++number);
  };
  for await (const read of chunks) {
    // One copy per chunk, lines are views of it: stdin may reuse its chunk for the next read.
    const chunk = new Uint8Array(read);
    const frames: Uint8Array[] = [];
    let start = 0;
    try {
      for (let end = chunk.indexOf(0x0a); end >= 0; end = chunk.indexOf(0x0a, start)) {
        frames.push(lineOf(chunk.subarray(start, end)));
        start = end + 1;
      }
      if (start < chunk.length) {
        pending.push(chunk.subarray(start));
        progress.held += chunk.length - start;
        if (progress.held > most) throw tooLong(`stdin line ${number + 1}`);
      }
    } catch (error) {
      // The lines before the bad one go out, then the error.
      if (frames.length > 0) yield frames;
      throw error;
    }
    if (frames.length > 0) yield frames;
  }
  if (pending.length > 0) yield [lineOf(new Uint8Array(0))];
}

// ── stdout ───────────────────────────────────────────────────────────────────────────────────────

/** How much text `LineWriter` gathers before it writes without waiting for the tick to end. */
const BATCH = 64 * 1024;

/**
 * Writes lines to a stream, gathered into one write per tick (or per 64 KiB), and says when they
 * have all been handed to it. Deno's `process.stdout.write` costs about 6 µs and 600 bytes per
 * call (1 M one-line writes: 6.5 s and 635 MB; Bun: 1 s and 58 MB; Deno 2.9.6, Bun 1.4.5):
 * batching makes both small. Backpressure: `line()` returns false while the stream says it is full
 * (Bun, Node) or while a second write waits behind one not yet done (Deno returns true and calls
 * back late; on a full pipe it blocks the event loop).
 */
export class LineWriter {
  #buffer = "";
  #scheduled = false;
  #writing = 0;
  #full = false;
  #last: Promise<void> = Promise.resolve();

  /**
   * @param stream Where the lines go (stdout).
   * @param onError Called once with the first error a write reports (EPIPE: the reader is gone).
   */
  constructor(
    private readonly stream: {
      write(text: string, callback: (error?: Error | null) => void): boolean;
    },
    private readonly onError: (error: Error) => void,
  ) {}

  /**
   * Writes `text` and a newline (within this tick, or at once past 64 KiB).
   * @returns `false` when writes are waiting on the stream: await {@linkcode LineWriter.drained}.
   */
  line(text: string): boolean {
    this.#buffer += `${text}\n`;
    if (this.#buffer.length >= BATCH) this.#write();
    else if (!this.#scheduled) {
      this.#scheduled = true;
      setTimeout(() => this.#write(), 0);
    }
    // More than one write in flight: the stream takes text faster than it passes it on.
    return !this.#full && this.#writing <= 1;
  }

  #write(): void {
    this.#scheduled = false;
    if (this.#buffer === "") return;
    const text = this.#buffer;
    this.#buffer = "";
    this.#writing++;
    this.#last = new Promise((resolve) => {
      const done = (error?: Error | null) => {
        this.#writing--;
        this.#full = false;
        if (error) this.onError(error);
        resolve();
      };
      try {
        this.#full = !this.stream.write(text, done);
      } catch (error) {
        done(error instanceof Error ? error : new Error(String(error)));
      }
    });
  }

  /** Writes what is gathered; resolves once every line so far has been handed to the stream. */
  drained(): Promise<void> {
    this.#write();
    return this.#last;
  }
}

/** stdout as lines, and how its end is told. */
export interface StdoutLines {
  writer: LineWriter;
  /**
   * Resolves when no one reads stdout any more (EPIPE: `… | head -1` has exited); rejects on any
   * other failure to write it.
   */
  gone: Promise<"stdout">;
  /** Whether stdout has failed (then nothing more is written to it). */
  readonly isGone: boolean;
}

/**
 * A {@linkcode LineWriter} on stdout that turns its failure into {@linkcode StdoutLines.gone}.
 * Without a listener, a write to a closed pipe is an uncaught error in Deno and Node, and in Bun
 * the process reads on at full speed, printing nothing, until the peer closes (probed with
 * Deno 2.9.6, Bun 1.4.5, Node 20).
 */
export function stdoutLines(): StdoutLines {
  let isGone = false;
  let settle!: { resolve(value: "stdout"): void; reject(error: unknown): void };
  const gone = new Promise<"stdout">((resolve, reject) => (settle = { resolve, reject }));
  gone.catch(() => {});
  const fail = (error: Error) => {
    if (isGone) return;
    isGone = true;
    if ((error as { code?: unknown }).code === "EPIPE") settle.resolve("stdout");
    else settle.reject(new Error(`cannot write to stdout: ${error.message}`, { cause: error }));
  };
  process.stdout.on("error", fail);
  return {
    writer: new LineWriter(process.stdout, fail),
    gone,
    get isGone() {
      return isGone;
    },
  };
}

/**
 * Writes one batch of stdin's frames (`frameOf` each body) in the same tick, and waits for the
 * connection to drain only when it says it is full.
 */
export async function sendBatch<T>(
  conn: { write(frame: T): boolean; flush(): Promise<void> },
  bodies: Uint8Array[],
  frameOf: (body: Uint8Array) => T,
): Promise<void> {
  let full = false;
  for (const body of bodies) full = !conn.write(frameOf(body)) || full;
  if (full) await conn.flush();
}

/** `chunks`, calling `onChunk` as each arrives (before anything is made of it). */
export async function* eachChunk(
  chunks: AsyncIterable<Uint8Array>,
  onChunk: () => void,
): AsyncGenerator<Uint8Array> {
  for await (const chunk of chunks) {
    onChunk();
    yield chunk;
  }
}

/**
 * stdin, as chunks to read frames from. A directory given as stdin (`< /`) reads as empty in Deno
 * and Node (Bun fails with EISDIR): refused here, so it is never sent as an empty frame.
 * @throws {InputError} When stdin is a directory.
 */
export function stdinChunks(): AsyncIterable<Uint8Array> {
  let directory = false;
  try {
    directory = fstatSync(0).isDirectory();
  } catch {
    // No descriptor 0 to look at (closed): process.stdin says what it can.
  }
  if (directory) throw new InputError("stdin is a directory");
  return process.stdin;
}
