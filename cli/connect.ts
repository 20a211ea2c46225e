// `framed connect`: netcat for framed protocols. stdin becomes frames; every frame the server
// sends is printed as one line as it arrives.

import process from "node:process";
import { type Codec, connect, type FramedConn, type JsonHeader } from "../mod.ts";
import {
  commandHelp,
  FLAG_HELP,
  FRAMING_DETAIL_FLAGS_HELP,
  FRAMING_OPTIONS,
  framingFrom,
  optionalIntegerFlag,
  parseWithPositionals,
  PEER_FLAGS_HELP,
  PEER_OPTIONS,
  PEER_SYNOPSIS,
  peerFrom,
  STDIO_OPTIONS,
  UsageError,
  WAIT,
} from "./_flags.ts";
import {
  eachChunk,
  formatFrame,
  framesFrom,
  headerFrom,
  InputError,
  type InputMode,
  inputModeFrom,
  type OutputMode,
  outputModeFrom,
  sendBatch,
  stdinChunks,
  stdoutLines,
} from "./_frame_text.ts";

export const help: string = commandHelp(
  "connect --framing length|delimiter|json-header [--length-format FMT] [--max-frame BYTES]\n" +
    "                   [--length-offset N] [--length-adjustment N] [--strip N] [--delimiter STR]\n" +
    "                   [--input lines|raw|hex|base64] [--output text|hex|base64|json]\n" +
    "                   [--header JSON] [--wait MS] [--api native|node]\n" +
    `                   ${PEER_SYNOPSIS}`,
  "Connects, sends stdin as frames while it is read, and prints every frame the server sends as\n" +
    "one line as it arrives. By default each input line is one frame (an empty line is an empty\n" +
    "frame; a CR before the LF is dropped; bytes are sent as they are, UTF-8 or not).\n" +
    "Text output escapes \\ as \\\\, LF as \\n, CR as \\r, TAB as \\t, and every other control\n" +
    "character (C0, DEL, C1) or byte that is not valid UTF-8 as \\xHH, so each frame is one line\n" +
    "and gives back its exact bytes.\n" +
    "When stdin ends: sends FIN and exits 0 once the server has ended the connection; with\n" +
    "--wait, sends no FIN and exits 0 once MS pass with no new frame. When the server ends first,\n" +
    "stdin is still sent (the server may still read) until it ends or pauses for 250 ms, then it\n" +
    "exits 0; at a terminal it exits at once. Exit 1, with one line on stderr, on any\n" +
    "failure: refused, TLS, a frame cut off by the end of the stream, a line --input cannot decode.",
  [
    FLAG_HELP.framing,
    FLAG_HELP.input,
    FLAG_HELP.output,
    FLAG_HELP.header,
    FLAG_HELP.wait,
    ...FRAMING_DETAIL_FLAGS_HELP,
    ...PEER_FLAGS_HELP,
    FLAG_HELP.api,
  ],
  [
    [
      "type lines to a length-prefixed server, see its replies",
      "framed connect --framing length --port 9000",
    ],
    [
      "two frames, the second empty, to a TLS server with a private CA; replies as hex",
      "printf 'ping\\n\\n' | framed connect --framing length --length-format u16be \\\n" +
      "    --host 127.0.0.1 --port 9443 --tls --ca ca.pem --output hex",
    ],
    [
      "a binary file as one JSON-header frame; the reply's header and body as JSON",
      'framed connect --framing json-header --header \'{"name":"a.bin"}\' --input raw \\\n' +
      "    --output json --unix /run/app.sock < a.bin",
    ],
  ],
);

export async function run(args: string[]): Promise<number> {
  const { values, positionals } = parseWithPositionals(args, {
    ...FRAMING_OPTIONS,
    ...PEER_OPTIONS,
    ...STDIO_OPTIONS,
    wait: { type: "string" },
  });
  if (positionals.length > 0) {
    throw new UsageError(`takes no arguments (got ${JSON.stringify(positionals[0])}); see --input`);
  }
  const { header, stringify } = headerFrom(values.header, values.framing);
  const framing = framingFrom(values, stringify);
  const target = peerFrom(values);
  const options: SessionOptions = {
    input: inputModeFrom(values.input),
    output: outputModeFrom(values.output),
    wait: optionalIntegerFlag("wait", values.wait, WAIT),
    maxFrame: framing.maxFrame,
  };
  // Before connecting: stdin that cannot be read is refused without touching the server.
  const stdin = stdinChunks();
  // lingerTimeout: at exit the frames are sent; don't wait long for a server that never ends.
  const linger = { lingerTimeout: 500 };
  if (framing.kind === "json") {
    const conn = await connect({ ...target, codec: framing.codec, ...linger });
    return await session(conn, stdin, options, (body) => ({ header, body }));
  }
  const conn = await connect({ ...target, codec: framing.codec as Codec<Uint8Array>, ...linger });
  return await session(conn, stdin, options, (body) => body);
}

interface SessionOptions {
  input: InputMode;
  output: OutputMode;
  wait: number | undefined;
  maxFrame: number;
}

/** One connection's life: stdin in, frames out, until one of the ways it ends. */
async function session<T extends Uint8Array | { header: JsonHeader; body: Uint8Array }>(
  conn: FramedConn<T>,
  stdin: AsyncIterable<Uint8Array>,
  options: SessionOptions,
  frameOf: (body: Uint8Array) => T,
): Promise<number> {
  const stdout = stdoutLines();
  const out = stdout.writer;
  let idle: Idle | undefined;
  // Counts only while the sender waits for stdin, not while it waits for the socket to drain.
  const stdinPause = new Idle(STDIN_PAUSE_MS, false);
  const received = (async () => {
    for await (const frame of conn) {
      idle?.restart();
      if (!out.line(formatFrame(options.output, frame))) await out.drained();
    }
  })();
  // What framesFrom holds of stdin that is no frame yet (an unfinished line, raw stdin).
  const progress = { held: 0 };
  // A stdin line that cannot be sent ends stdin there: the frames before it are sent and their
  // replies printed, then the command fails with it.
  let badInput: InputError | undefined;
  const sent = (async () => {
    stdinPause.restart();
    const chunks = eachChunk(stdin, () => stdinPause.restart());
    try {
      for await (const bodies of framesFrom(chunks, options.input, options.maxFrame, progress)) {
        stdinPause.cancel();
        await sendBatch(conn, bodies, frameOf);
        stdinPause.restart();
      }
    } catch (error) {
      if (!(error instanceof InputError)) throw error;
      badInput = error;
    }
    stdinPause.cancel();
    await conn.flush();
    if (options.wait === undefined) await conn.closeWrite();
  })();
  try {
    // Whichever comes first: stdin ends (then wait for the server as --wait says), or the
    // server ends its side. It may still be reading (a half-close), and the race with a server
    // that answers at once must not drop input: stdin from a pipe or a file is still sent, to
    // its end or until stdin itself pauses for STDIN_PAUSE_MS. A person at a terminal is done
    // when the server is.
    const first = await Promise.race([
      received.then(() => "server"),
      sent.then(() => "stdin"),
      stdout.gone,
    ]);
    if (first === "server" && !process.stdin.isTTY) {
      stdinPause.arm();
      try {
        await Promise.race([sent, stdinPause.passed, stdout.gone]);
      } catch (cause) {
        throw new Error(
          `the server closed the connection before all of stdin was sent: ${
            cause instanceof Error ? cause.message : cause
          }`,
          { cause },
        );
      }
      // Given up on a pause: what stdin gave that is no frame yet would be dropped silently.
      if (progress.held > 0 && badInput === undefined) {
        throw new Error(
          `the server closed the connection and stdin paused with ${progress.held} bytes of an ` +
            "unfinished frame unsent",
        );
      }
    }
    if (first === "stdin") {
      if (options.wait === undefined) await Promise.race([received, stdout.gone]);
      else {
        idle = new Idle(options.wait);
        await Promise.race([received, idle.passed, stdout.gone]);
      }
    }
    // The last lines' writes may be what finds stdout closed.
    if (!stdout.isGone) await out.drained();
    // No one reads stdout any more (`connect … | head -1`): stop quietly, as a tool killed by
    // SIGPIPE would, with its exit status.
    if (stdout.isGone) return 141;
    if (badInput !== undefined) throw badInput;
    return 0;
  } finally {
    idle?.cancel();
    stdinPause.cancel();
    // Ends the receive loop; the stdin loop, if still reading, ends with the process.
    await conn.close().catch(() => {});
    if (!stdout.isGone) await out.drained();
    sent.catch(() => {});
    received.catch(() => {});
  }
}

/** How long stdin may pause, once the server has ended, before the rest of it is given up. */
const STDIN_PAUSE_MS = 250;

/**
 * A quiet period of `ms` that starts again with every `restart()`. Armed from the start unless
 * told otherwise: a disarmed one ignores `restart()` until `arm()`.
 */
class Idle {
  readonly passed: Promise<void>;
  #timer: ReturnType<typeof setTimeout> | undefined;
  #resolve!: () => void;
  #armed: boolean;
  #running = false;

  constructor(readonly ms: number, armed = true) {
    this.passed = new Promise((resolve) => (this.#resolve = resolve));
    this.#armed = armed;
    this.restart();
  }

  /** Starts counting; from now on `restart()` counts again. */
  arm(): void {
    this.#armed = true;
    if (this.#running) this.restart();
  }

  /** Counts `ms` from now (once armed). */
  restart(): void {
    clearTimeout(this.#timer);
    this.#running = true;
    if (this.#armed) this.#timer = setTimeout(this.#resolve, this.ms);
  }

  /** Stops counting until the next `restart()`. */
  cancel(): void {
    clearTimeout(this.#timer);
    this.#running = false;
  }
}
