// `framed exec-server`: runs an argv per request, without a shell, within limits (programs/exec.ts).

import { parseArgs } from "node:util";
import { execServer, isLoopback } from "../programs/exec.ts";
import {
  commandHelp,
  FLAG_HELP,
  listenFrom,
  MAX_CONCURRENT,
  MAX_OUTPUT,
  optionalIntegerFlag,
  SOCKET_OPTIONS,
  TIMEOUT,
  tokenFrom,
  UsageError,
} from "./_flags.ts";
import { serveUntilSignal } from "./_serve_until_signal.ts";

export const help: string = commandHelp(
  "exec-server [--host 127.0.0.1] [--port 0] [--token T] [--timeout SECONDS]\n" +
    "                          [--max-output BYTES] [--max-concurrent N] [--api native|node]",
  "Prints `listening on HOST:PORT`, then runs the argv of each request without a shell, in a\n" +
    "process group of its own, and replies with its exit code, stdout and stderr. Binding anything\n" +
    "but loopback needs --token. Exits 0 on SIGINT or SIGTERM, killing the commands it runs.",
  [
    FLAG_HELP.listenHost,
    FLAG_HELP.listenPort,
    FLAG_HELP.token,
    FLAG_HELP.timeout,
    FLAG_HELP.maxOutput,
    FLAG_HELP.maxConcurrent,
    FLAG_HELP.api,
  ],
);

export async function run(args: string[]): Promise<void> {
  const { values } = parseArgs({
    args,
    options: {
      ...SOCKET_OPTIONS,
      token: { type: "string" },
      timeout: { type: "string" },
      "max-output": { type: "string" },
      "max-concurrent": { type: "string" },
    },
    strict: true,
  });
  // Checked here too (execServer refuses them as well) so that each mistake is a usage error
  // (exit 2), not a runtime failure.
  const token = tokenFrom(values.token);
  if (!isLoopback(values.host) && token === undefined) {
    throw new UsageError(`refusing to serve commands on ${values.host} without --token`);
  }
  const server = await execServer({
    ...listenFrom(values),
    token,
    timeout: optionalIntegerFlag("timeout", values.timeout, TIMEOUT),
    maxOutput: optionalIntegerFlag("max-output", values["max-output"], MAX_OUTPUT),
    maxConcurrent: optionalIntegerFlag("max-concurrent", values["max-concurrent"], MAX_CONCURRENT),
  });
  await serveUntilSignal(server.address, () => server.shutdown(), server.finished);
}
