// `framed listen`: the server side of netcat for framed protocols. Prints every frame received,
// from any number of connections; with --reply-from-stdin, stdin's frames go to every connection.

import {
  type Codec,
  type FramedConn,
  type JsonHeader,
  type JsonHeaderFrame,
  listenStreams,
  serveListener,
} from "../mod.ts";
import {
  commandHelp,
  errorText,
  FLAG_HELP,
  FRAMING_DETAIL_FLAGS_HELP,
  FRAMING_OPTIONS,
  framingFrom,
  LISTEN_FLAGS_HELP,
  LISTEN_OPTIONS,
  LISTEN_SYNOPSIS,
  listenFrom,
  parseWithPositionals,
  STDIO_OPTIONS,
  UsageError,
} from "./_flags.ts";
import {
  formatFrame,
  framesFrom,
  headerFrom,
  type InputMode,
  inputModeFrom,
  type OutputMode,
  outputModeFrom,
  sendBatch,
  stdinChunks,
  stdoutLines,
} from "./_frame_text.ts";
import { serveUntilSignal } from "./_serve_until_signal.ts";

export const help: string = commandHelp(
  "listen --framing length|delimiter|json-header [--length-format FMT] [--max-frame BYTES]\n" +
    "                   [--length-offset N] [--length-adjustment N] [--strip N] [--delimiter STR]\n" +
    "                   [--output text|hex|base64|json] [--once]\n" +
    "                   [--reply-from-stdin [--input lines|raw|hex|base64] [--header JSON]]\n" +
    `                   [--api native|node] ${LISTEN_SYNOPSIS}`,
  "Prints `listening on HOST:PORT` (or `… (TLS)`, `listening on unix:PATH`) on stderr, then every\n" +
    "frame received on stdout, one line each, as `framed connect` prints them. While more than one\n" +
    "connection is open, each line starts with the sender (`HOST:PORT `, `unix#N ` on a unix\n" +
    'socket); --output json always has a "peer" key. stderr also says `connection from PEER`,\n' +
    "`PEER closed`, and why a connection was closed (bad input closes only that connection).\n" +
    "With --reply-from-stdin, stdin's frames (one per line, or as --input says) are sent to every\n" +
    "open connection, waiting while none is; a client that has finished sending (`PEER finished\n" +
    "sending`) still gets them. When stdin ends, it stops accepting, ends every connection (FIN)\n" +
    "and exits 0 once they have all ended (a client that never reads holds that up). With --once,\n" +
    "it accepts one connection and exits when that ends (1 if it ended with an error; with\n" +
    "--reply-from-stdin, once stdin has ended too). Exits 0 on SIGINT or SIGTERM, after printing\n" +
    "the frames already read.",
  [
    FLAG_HELP.framing,
    FLAG_HELP.output,
    ["--once", "accept a single connection; exit when it ends (default off)"],
    ["--reply-from-stdin", "send stdin's frames to every open connection (default off)"],
    FLAG_HELP.input,
    FLAG_HELP.header,
    ...FRAMING_DETAIL_FLAGS_HELP,
    ...LISTEN_FLAGS_HELP,
    FLAG_HELP.api,
  ],
  [
    [
      "print what clients send to port 9000, as hex",
      "framed listen --framing length --port 9000 --output hex",
    ],
    [
      "a manual server: one connection, each line you type is a frame to it",
      "framed listen --framing length --port 9000 --once --reply-from-stdin",
    ],
    [
      "record one client's JSON-header frames to a file, headers included",
      "framed listen --framing json-header --unix /tmp/app.sock --once --output json > frames.jsonl",
    ],
  ],
);

export async function run(args: string[]): Promise<number> {
  const { values, positionals } = parseWithPositionals(args, {
    ...FRAMING_OPTIONS,
    ...LISTEN_OPTIONS,
    ...STDIO_OPTIONS,
    once: { type: "boolean" },
    "reply-from-stdin": { type: "boolean" },
  });
  if (positionals.length > 0) {
    throw new UsageError(`takes no arguments (got ${JSON.stringify(positionals[0])})`);
  }
  const { header, stringify } = headerFrom(values.header, values.framing);
  const framing = framingFrom(values, stringify);
  const where = listenFrom(values);
  const replying = values["reply-from-stdin"] === true;
  for (const flag of ["input", "header"] as const) {
    if (values[flag] !== undefined && !replying) {
      throw new UsageError(`--${flag} needs --reply-from-stdin (it says how stdin is sent)`);
    }
  }
  const options: ListenOptions = {
    output: outputModeFrom(values.output),
    input: inputModeFrom(values.input),
    once: values.once === true,
    replying,
    maxFrame: framing.maxFrame,
  };
  if (framing.kind === "json") {
    return await listening<JsonHeaderFrame>(
      where,
      framing.codec,
      options,
      (body) => ({ header, body }),
    );
  }
  return await listening(where, framing.codec as Codec<Uint8Array>, options, (body) => body);
}

interface ListenOptions {
  output: OutputMode;
  input: InputMode;
  once: boolean;
  replying: boolean;
  maxFrame: number;
}

async function listening<T extends Uint8Array | { header: JsonHeader; body: Uint8Array }>(
  where: ReturnType<typeof listenFrom>,
  codec: Codec<T>,
  options: ListenOptions,
  frameOf: (body: Uint8Array) => T,
): Promise<number> {
  // Before listening: stdin that cannot be read is refused before anyone connects.
  const stdin = options.replying ? stdinChunks() : undefined;
  const stdout = stdoutLines();
  const out = stdout.writer;
  const log = (line: string) => console.error(line);
  const streams = await listenStreams(where);
  const unix = "path" in where;
  /** The open connections (`labels` names them). */
  const open = new Set<FramedConn<T>>();
  /** Ends a connection kept open for replies whose writes failed. */
  const dropped = new Map<FramedConn<T>, () => void>();
  /** How each connection is named, and those whose failure has been told already. */
  const labels = new WeakMap<FramedConn<T>, string>();
  const told = new WeakSet<FramedConn<T>>();
  const tell = (conn: FramedConn<T> | null, error: unknown) => {
    if (conn !== null && told.has(conn)) return;
    if (conn !== null) told.add(conn);
    const peer = conn === null ? undefined : labels.get(conn);
    log(`framed listen: ${peer === undefined ? "" : `${peer}: `}${errorText(error)}`);
  };
  let accepted = 0;
  let failures = 0;
  // SIGINT or SIGTERM: reading stops everywhere, which is no client's end of sending.
  let stopping = false;
  // Resolved while a connection is open: stdin's frames wait on it.
  let opened = waiting();
  // Resolved once stdin has ended and every connection got its FIN (with --reply-from-stdin).
  const repliesEnded = waiting();

  const server = serveListener(streams, {
    codec,
    handler: async (conn) => {
      accepted++;
      const peer = unix ? `unix#${accepted}` : `${conn.remoteAddress}`;
      labels.set(conn, peer);
      if (options.once && accepted > 1) {
        // Arrived before the listener was closed, together with the first one.
        log(`framed listen: ${peer}: refused, --once serves one connection`);
        return conn.abort();
      }
      // One connection: closing the listener stops accepting; this connection goes on.
      if (options.once) streams.close();
      open.add(conn);
      log(`connection from ${peer}`);
      opened.resolve();
      try {
        for await (const frame of conn) {
          const line = formatFrame(
            options.output,
            frame,
            options.output === "json" ? peer : undefined,
          );
          const prefixed = open.size > 1 && options.output !== "json" ? `${peer} ${line}` : line;
          if (!out.line(prefixed)) await out.drained();
        }
        // (Not when a failed reply write has closed it already, nor when we are stopping.)
        if (options.replying && !conn.closed && !stopping) {
          // The client has finished sending (`echo req | framed connect` sends its FIN at once)
          // and may still wait for the reply typed into our stdin: it gets our FIN when stdin ends.
          log(`${peer} finished sending`);
          const failed = waiting();
          dropped.set(conn, failed.resolve);
          await Promise.race([repliesEnded.promise, failed.promise]);
        }
      } catch (error) {
        failures++;
        tell(conn, error);
      } finally {
        open.delete(conn);
        dropped.delete(conn);
        if (open.size === 0) opened = waiting();
        log(`${peer} closed`);
      }
    },
    // A failed TLS handshake never became a connection; its error names the client.
    // A connection whose end failed is told once, with its name.
    onError: (error, conn) => tell(conn, error),
  });

  /** Writes a batch to one connection; a failure is reported and ends that connection. */
  const sendTo = async (conn: FramedConn<T>, bodies: Uint8Array[]) => {
    try {
      await sendBatch(conn, bodies, frameOf);
    } catch (error) {
      failures++;
      tell(conn, error);
      conn.abort(error);
      dropped.get(conn)?.();
    }
  };

  const replies = options.replying ? reply() : undefined;
  async function reply(): Promise<void> {
    for await (const bodies of framesFrom(stdin!, options.input, options.maxFrame)) {
      while (open.size === 0) await opened.promise;
      await Promise.all([...open].map((conn) => sendTo(conn, bodies)));
    }
    // stdin has ended: no more connections, and every open one gets our end of stream.
    streams.close();
    await Promise.all([...open].map((conn) => conn.closeWrite().catch(() => {})));
    repliesEnded.resolve();
  }

  // Done when the connections have ended and no more will come: with --once after the one, with
  // --reply-from-stdin after stdin's end (which closes the listener); a bad stdin line fails it.
  // A stdout no one reads any more ends it too (then quietly, as SIGPIPE would).
  const done = Promise.race([
    stdout.gone.then(() => {}),
    replies === undefined ? server.finished : Promise.race([
      options.once ? server.finished : new Promise<void>(() => {}),
      replies.then(() => server.finished),
    ]),
  ]);
  try {
    await serveUntilSignal(
      { address: streams.address, tls: "tls" in where && where.tls !== undefined },
      () => {
        stopping = true;
        repliesEnded.resolve();
        return server.shutdown();
      },
      done,
      log,
    );
  } finally {
    if (!stdout.isGone) await out.drained();
  }
  if (stdout.isGone) return 141;
  return options.once && failures > 0 ? 1 : 0;
}

/** A promise and its resolve function (Node 20 has no `Promise.withResolvers`). */
function waiting(): { promise: Promise<void>; resolve: () => void } {
  let resolve!: () => void;
  const promise = new Promise<void>((r) => (resolve = r));
  return { promise, resolve };
}
