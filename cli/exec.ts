// `framed exec`: runs one argv on an exec-server and passes on its stdout, stderr and exit code.

import process from "node:process";
import { execRemote } from "../programs/exec.ts";
import {
  commandHelp,
  FLAG_HELP,
  parseClientArgs,
  PEER_FLAGS_HELP,
  PEER_SYNOPSIS,
  tokenFrom,
  UsageError,
} from "./_flags.ts";

export const help: string = commandHelp(
  `exec ${PEER_SYNOPSIS}\n` +
    "                   [--token T] [--api native|node] -- CMD ARG…",
  "Runs CMD ARG… on an exec-server (no shell) and writes its stdout and stderr here, each to its\n" +
    "own stream. Exits with the command's exit code, 124 when it timed out, 128 when a signal\n" +
    "ended it. To reach a server beyond this machine, use --tls (with --ca for a private CA) and\n" +
    "--token: the token then travels encrypted, to a server whose certificate was verified.",
  [...PEER_FLAGS_HELP, FLAG_HELP.token, FLAG_HELP.api],
  [
    [
      "list a directory on the exec-server at port 9100",
      "framed exec --port 9100 -- ls -l /tmp",
    ],
    [
      "over TLS with a token, trusting a private CA",
      'framed exec --host build.example --port 9100 --tls --ca ca.pem --token "$TOKEN" -- uname -a',
    ],
  ],
);

export async function run(args: string[]): Promise<number> {
  const { values, positionals, peer } = parseClientArgs(args, { token: { type: "string" } });
  const token = tokenFrom(values.token);
  if (positionals.length === 0) {
    throw new UsageError("exec needs a command: exec --port P -- CMD ARG…");
  }
  const reply = await execRemote({ ...peer, token }, positionals);
  await new Promise<void>((resolve) => process.stdout.write(reply.stdout, () => resolve()));
  await new Promise<void>((resolve) => process.stderr.write(reply.stderr, () => resolve()));
  if (reply.truncated) console.error("framed exec: output truncated at the server's --max-output");
  if (reply.timedOut) {
    console.error("framed exec: the command timed out and was killed");
    return 124;
  }
  return reply.exitCode ?? 128;
}
