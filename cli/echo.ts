// `framed echo`: serves every frame back unchanged, in any framing, over TCP, TLS or a unix socket.

import { parseArgs } from "node:util";
import { type Codec, serve, TlsError } from "../mod.ts";
import {
  commandHelp,
  FLAG_HELP,
  FRAMING_OPTIONS,
  framingFrom,
  LISTEN_FLAGS_HELP,
  LISTEN_OPTIONS,
  LISTEN_SYNOPSIS,
  listenFrom,
} from "./_flags.ts";
import { serveUntilSignal } from "./_serve_until_signal.ts";

export const help: string = commandHelp(
  "echo --framing length|delimiter|json-header [--length-format FMT] [--max-frame BYTES]\n" +
    "                   [--length-offset N] [--length-adjustment N] [--strip N]\n" +
    "                   [--delimiter STR] [--api native|node]\n" +
    `                   ${LISTEN_SYNOPSIS}`,
  "Prints `listening on HOST:PORT` (`listening on HOST:PORT (TLS)` with --tls-cert and --tls-key,\n" +
    "`listening on unix:PATH` with --unix), then echoes every frame unchanged (for json-header: the\n" +
    "same header bytes and the same body). A connection that sends bad input, or fails its TLS\n" +
    "handshake, is closed and reported on stderr; everyone else is still served. Exits 0 on SIGINT\n" +
    "or SIGTERM.",
  [
    FLAG_HELP.framing,
    FLAG_HELP.lengthFormat,
    FLAG_HELP.maxFrame,
    FLAG_HELP.lengthOffset,
    FLAG_HELP.lengthAdjustment,
    FLAG_HELP.strip,
    FLAG_HELP.delimiter,
    ...LISTEN_FLAGS_HELP,
    FLAG_HELP.api,
  ],
);

export async function run(args: string[]): Promise<void> {
  const { values } = parseArgs({
    args,
    options: { ...FRAMING_OPTIONS, ...LISTEN_OPTIONS },
    strict: true,
  });
  const framing = framingFrom(values);
  const where = listenFrom(values);
  const server = await serve<unknown>({
    ...where,
    codec: framing.codec as Codec<unknown>,
    handler: async (conn) => {
      for await (const frame of conn) {
        if (!conn.write(frame)) await conn.flush();
      }
    },
    // A bad client is closed by serve(); say so on stderr and keep serving everyone else. A failed
    // handshake never became a connection (null); its TlsError names the client.
    onError: (error, conn) => {
      const who = conn !== null
        ? `${conn.remoteAddress}: `
        : error instanceof TlsError
        ? ""
        : "accept: ";
      console.error(`framed echo: ${who}${error instanceof Error ? error.message : error}`);
    },
  });
  await serveUntilSignal(
    { address: server.address, tls: "tls" in where && where.tls !== undefined },
    () => server.shutdown(),
    server.finished,
  );
}
