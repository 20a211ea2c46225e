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
);

export async function run(args: string[]): Promise<void> {
  const { positionals, peer } = parseClientArgs(args);
  if (positionals.length !== 1) throw new UsageError("put takes one FILE");
  const reply = await putFile(peer, positionals[0]!);
  console.log(`uploaded ${reply.file_name}: ${reply.stored_bytes} bytes, sha256 ${reply.sha256}`);
}
