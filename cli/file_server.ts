// `framed file-server`: serves one directory to `put` and `get` (programs/file_transfer.ts).

import { parseArgs } from "node:util";
import { badServedDir, fileServer } from "../programs/file_transfer.ts";
import {
  commandHelp,
  errorText,
  FLAG_HELP,
  LISTEN_FLAGS_HELP,
  LISTEN_OPTIONS,
  LISTEN_SYNOPSIS,
  listenFrom,
  MAX_SIZE,
  optionalIntegerFlag,
  UsageError,
} from "./_flags.ts";
import { serveUntilSignal } from "./_serve_until_signal.ts";

export const help: string = commandHelp(
  "file-server --dir DIR [--max-size BYTES] [--api native|node]\n" +
    `                          ${LISTEN_SYNOPSIS}`,
  "Prints `listening on HOST:PORT` (`… (TLS)` with a certificate, `listening on unix:PATH` with\n" +
    "--unix), then stores uploads in DIR (a file appears under its name only once its sha256\n" +
    "matches) and sends its files on request. A connection that fails (a failed TLS handshake\n" +
    "included) is reported on stderr. Exits 0 on SIGINT or SIGTERM, removing unfinished uploads.",
  [
    ["--dir", "the served directory; it must exist (required)"],
    ...LISTEN_FLAGS_HELP,
    FLAG_HELP.maxSize,
    FLAG_HELP.api,
  ],
  [
    [
      "serve ./shared on port 9200",
      "framed file-server --dir ./shared --port 9200",
    ],
    [
      "on a unix socket, uploads up to 1 GiB",
      "framed file-server --dir ./shared --unix /tmp/files.sock --max-size 1073741824",
    ],
  ],
);

export async function run(args: string[]): Promise<void> {
  const { values } = parseArgs({
    args,
    options: { ...LISTEN_OPTIONS, dir: { type: "string" }, "max-size": { type: "string" } },
    strict: true,
  });
  if (values.dir === undefined) throw new UsageError("--dir is required");
  const where = listenFrom(values);
  const maxSize = optionalIntegerFlag("max-size", values["max-size"], MAX_SIZE);
  // A missing folder would fail every request: refuse to start instead.
  const badDir = await badServedDir(values.dir);
  if (badDir !== null) throw new UsageError(badDir);
  const server = await fileServer({
    ...where,
    dir: values.dir,
    maxSize,
    onError: (error) => console.error(`framed file-server: ${errorText(error)}`),
  });
  if (server.staleRemoved > 0) {
    console.error(
      `framed file-server: removed ${server.staleRemoved} unfinished upload(s) left by an earlier run`,
    );
  }
  await serveUntilSignal(
    { address: server.address, tls: "tls" in where && where.tls !== undefined },
    () => server.close(),
  );
}
