// `framed get`: downloads one file from a file-server; it appears only once its sha256 matches.

import { getFile } from "../programs/file_transfer.ts";
import {
  commandHelp,
  FLAG_HELP,
  parseClientArgs,
  PEER_FLAGS_HELP,
  PEER_SYNOPSIS,
  UsageError,
} from "./_flags.ts";

export const help: string = commandHelp(
  `get ${PEER_SYNOPSIS}\n` +
    "                  [--api native|node] NAME --out FILE",
  "Downloads NAME into FILE and prints `downloaded NAME: N bytes, sha256 HEX`. FILE appears only\n" +
    "once the whole file has arrived and its sha256 matched.",
  [...PEER_FLAGS_HELP, ["--out", "where to store the file (required)"], FLAG_HELP.api],
  [
    [
      "download report.pdf into /tmp/report.pdf",
      "framed get --port 9200 report.pdf --out /tmp/report.pdf",
    ],
    [
      "from a unix socket",
      "framed get --unix /tmp/files.sock report.pdf --out report.pdf",
    ],
  ],
);

export async function run(args: string[]): Promise<void> {
  const { values, positionals, peer } = parseClientArgs(args, { out: { type: "string" } });
  if (positionals.length !== 1 || values.out === undefined) {
    throw new UsageError("get takes NAME and --out FILE");
  }
  const reply = await getFile(peer, positionals[0]!, values.out);
  console.log(`downloaded ${reply.file_name}: ${reply.file_size} bytes, sha256 ${reply.sha256}`);
}
