// `framed exec-server`: runs an argv per request, without a shell, within limits (programs/exec.ts).

import { parseArgs } from "node:util";
import { execServer, unprotectedExposure } from "../programs/exec.ts";
import {
  commandHelp,
  errorText,
  FLAG_HELP,
  LISTEN_FLAGS_HELP,
  LISTEN_OPTIONS,
  LISTEN_SYNOPSIS,
  listenFrom,
  MAX_CONCURRENT,
  MAX_OUTPUT,
  optionalIntegerFlag,
  TIMEOUT,
  tokenFrom,
  UsageError,
} from "./_flags.ts";
import { serveUntilSignal } from "./_serve_until_signal.ts";

export const help: string = commandHelp(
  "exec-server [--token T] [--timeout SECONDS] [--max-output BYTES] [--max-concurrent N]\n" +
    "                          [--api native|node]\n" +
    `                          ${LISTEN_SYNOPSIS}`,
  "Prints `listening on HOST:PORT` (`… (TLS)` with a certificate, `listening on unix:PATH` with\n" +
    "--unix), then runs the argv of each request without a shell, in a process group of its own,\n" +
    "and replies with its exit code, stdout and stderr. Exits 0 on SIGINT or SIGTERM, killing the\n" +
    "commands it runs.\n" +
    "\n" +
    "Loopback and --unix serve this machine only. TLS with a token is the supported way to serve\n" +
    "beyond it: binding any other --host needs both --token and --tls-cert/--tls-key (clients use\n" +
    "exec --tls --token), since without TLS the token crosses the network in clear text.",
  [
    ...LISTEN_FLAGS_HELP,
    FLAG_HELP.token,
    FLAG_HELP.timeout,
    FLAG_HELP.maxOutput,
    FLAG_HELP.maxConcurrent,
    FLAG_HELP.api,
  ],
  [
    [
      "this machine only, commands killed after 10 s",
      "framed exec-server --port 9100 --timeout 10",
    ],
    [
      "beyond this machine: a token, and TLS",
      'framed exec-server --host 0.0.0.0 --port 9100 --token "$TOKEN" \\\n    --tls-cert cert.pem --tls-key key.pem',
    ],
  ],
);

export async function run(args: string[]): Promise<void> {
  const { values } = parseArgs({
    args,
    options: {
      ...LISTEN_OPTIONS,
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
  const where = listenFrom(values);
  if (!("path" in where)) {
    const exposed = unprotectedExposure(where.hostname, {
      token: token !== undefined,
      tls: where.tls !== undefined,
    });
    if (exposed !== null) throw new UsageError(exposed);
  }
  const server = await execServer({
    ...where,
    token,
    timeout: optionalIntegerFlag("timeout", values.timeout, TIMEOUT),
    maxOutput: optionalIntegerFlag("max-output", values["max-output"], MAX_OUTPUT),
    maxConcurrent: optionalIntegerFlag("max-concurrent", values["max-concurrent"], MAX_CONCURRENT),
    // As echo and file-server do: each dropped client on stderr, the server goes on. The one
    // server meant to be exposed must not drop strangers silently.
    onError: (error, conn) => {
      const who = conn === null ? "" : `${conn.remoteAddress}: `;
      console.error(`framed exec-server: ${who}${errorText(error)}`);
    },
  });
  await serveUntilSignal(
    { address: server.address, tls: "tls" in where && where.tls !== undefined },
    () => server.shutdown(),
    server.finished,
  );
}
