// `framed echo`: serves every frame back unchanged, in any framing.

import { parseArgs } from "node:util";
import { type Codec, serve } from "../mod.ts";
import { commandHelp, FLAG_HELP, FRAMING_OPTIONS, framingFrom, listenFrom } from "./_flags.ts";
import { serveUntilSignal } from "./_serve_until_signal.ts";

export const help: string = commandHelp(
  "echo --framing length|delimiter|json-header [--length-format FMT] [--max-frame BYTES]\n" +
    "                   [--delimiter STR] [--host 127.0.0.1] [--port 0] [--api native|node]",
  "Prints `listening on HOST:PORT`, then echoes every frame unchanged (for json-header: the same\n" +
    "header bytes and the same body). A connection that sends bad input is closed and reported on\n" +
    "stderr; everyone else is still served. Exits 0 on SIGINT or SIGTERM.",
  [
    FLAG_HELP.framing,
    FLAG_HELP.lengthFormat,
    FLAG_HELP.maxFrame,
    FLAG_HELP.delimiter,
    FLAG_HELP.listenHost,
    FLAG_HELP.listenPort,
    FLAG_HELP.api,
  ],
);

export async function run(args: string[]): Promise<void> {
  const { values } = parseArgs({ args, options: FRAMING_OPTIONS, strict: true });
  const framing = framingFrom(values);
  const server = await serve<unknown>({
    ...listenFrom(values),
    codec: framing.codec as Codec<unknown>,
    handler: async (conn) => {
      for await (const frame of conn) {
        if (!conn.write(frame)) await conn.flush();
      }
    },
    // A bad client is closed by serve(); say so on stderr and keep serving everyone else.
    onError: (error, conn) => {
      const who = conn === null ? "accept" : `${conn.remoteAddress}`;
      console.error(`framed echo: ${who}: ${error instanceof Error ? error.message : error}`);
    },
  });
  await serveUntilSignal(server.address, () => server.shutdown(), server.finished);
}
