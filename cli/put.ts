// `framed put`: uploads one file to a file-server, streamed and sha256-checked.

import { putFile } from "../programs/file_transfer.ts";
import {
  commandHelp,
  FLAG_HELP,
  parseClientArgs,
  PEER_FLAGS_HELP,
  PEER_SYNOPSIS,
  UsageError,
} from "./_flags.ts";

export const help: string = commandHelp(
  `put ${PEER_SYNOPSIS}\n` +
    "                  [--api native|node] FILE",
  "Uploads FILE under its base name and prints `uploaded NAME: N bytes, sha256 HEX` once the\n" +
    "server has stored it and its sha256 matched.",
  [...PEER_FLAGS_HELP, FLAG_HELP.api],
  [
    [
      "upload report.pdf to the file-server at port 9200",
      "framed put --port 9200 report.pdf",
    ],
    [
      "over TLS",
      "framed put --host files.example --port 9443 --tls report.pdf",
    ],
  ],
);

export async function run(args: string[]): Promise<void> {
  const { positionals, peer } = parseClientArgs(args);
  if (positionals.length !== 1) throw new UsageError("put takes one FILE");
  const reply = await putFile(peer, positionals[0]!);
  console.log(`uploaded ${reply.file_name}: ${reply.stored_bytes} bytes, sha256 ${reply.sha256}`);
}
