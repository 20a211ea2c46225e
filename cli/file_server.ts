// `framed file-server`: serves one directory to `put` and `get` (programs/file_transfer.ts).

import { parseArgs } from "node:util";
import { badServedDir, fileServer } from "../programs/file_transfer.ts";
import {
  commandHelp,
  FLAG_HELP,
  listenFrom,
  MAX_SIZE,
  optionalIntegerFlag,
  SOCKET_OPTIONS,
  UsageError,
} from "./_flags.ts";
import { serveUntilSignal } from "./_serve_until_signal.ts";

export const help: string = commandHelp(
  "file-server --dir DIR [--host 127.0.0.1] [--port 0] [--max-size BYTES] [--api native|node]",
  "Prints `listening on HOST:PORT`, then stores uploads in DIR (a file appears under its name only\n" +
    "once its sha256 matches) and sends its files on request. Exits 0 on SIGINT or SIGTERM, removing\n" +
    "unfinished uploads.",
  [
    ["--dir", "the served directory; it must exist (required)"],
    FLAG_HELP.listenHost,
    FLAG_HELP.listenPort,
    FLAG_HELP.maxSize,
    FLAG_HELP.api,
  ],
);

export async function run(args: string[]): Promise<void> {
  const { values } = parseArgs({
    args,
    options: { ...SOCKET_OPTIONS, dir: { type: "string" }, "max-size": { type: "string" } },
    strict: true,
  });
  if (values.dir === undefined) throw new UsageError("--dir is required");
  const listen = listenFrom(values);
  const maxSize = optionalIntegerFlag("max-size", values["max-size"], MAX_SIZE);
  // A missing folder would fail every request: refuse to start instead.
  const badDir = await badServedDir(values.dir);
  if (badDir !== null) throw new UsageError(badDir);
  const server = await fileServer({
    ...listen,
    dir: values.dir,
    maxSize,
    onError: (error) =>
      console.error(`framed file-server: ${error instanceof Error ? error.message : error}`),
  });
  if (server.staleRemoved > 0) {
    console.error(
      `framed file-server: removed ${server.staleRemoved} unfinished upload(s) left by an earlier run`,
    );
  }
  await serveUntilSignal(server, () => server.close());
}
