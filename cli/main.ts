/**
 * `framed`, the command line: the protocol tool (`echo`, `send`) and launchers for the classic
 * socket programs in `programs/`. Programs in any language drive it, so its names and outputs are a
 * contract:
 *
 * ```
 * framed echo         --framing length|delimiter|json-header [--length-format FMT]
 *                     [--max-frame BYTES] [--delimiter STR] LISTEN
 * framed send         --framing … PEER [--length-format FMT] [--delimiter STR]
 *                     [--max-frame BYTES] MESSAGE…
 * framed sticky-demo
 * framed exec-server  LISTEN [--token T] [--timeout SECONDS] [--max-output BYTES]
 *                     [--max-concurrent N]
 * framed exec         PEER [--token T] -- CMD ARG…
 * framed file-server  --dir DIR LISTEN [--max-size BYTES]
 * framed put          PEER FILE
 * framed get          PEER NAME --out FILE
 * framed udp-demo
 *
 * LISTEN: [--host 127.0.0.1] [--port 0] [--tls-cert FILE --tls-key FILE] | --unix PATH
 * PEER:   --port P [--host H] [--tls [--ca FILE] [--servername NAME]] | --unix PATH
 * ```
 *
 * Every command takes `--api native|node` (the runtime's own sockets, or node:net) and `--help`.
 * `framed` is `deno run -A cli.ts`, `bun cli.ts` or `node --import tsx cli.ts`.
 *
 * - The servers (`echo`, `exec-server`, `file-server`) print exactly `listening on HOST:PORT`
 *   (`listening on HOST:PORT (TLS)` with `--tls-cert`/`--tls-key`, `listening on unix:PATH` with
 *   `--unix`) as their first line and exit 0 on SIGINT and SIGTERM.
 * - `echo` echoes every frame unchanged. `send` writes every MESSAGE as one frame, all before
 *   reading any reply, then prints one reply body per line.
 * - `exec` exits with the remote command's exit code (124: timed out, 128: killed by a signal).
 *   `put` and `get` print one line: `uploaded NAME: N bytes, sha256 HEX` or `downloaded …`.
 * - A client's `--tls` always verifies the server's certificate (against `--ca`, or the system's
 *   roots). `exec-server` beyond loopback needs both `--token` and TLS.
 * - A usage mistake (an unknown flag, a number out of its range, a blank `--token`, a missing
 *   `--dir`, `--tls-cert` without `--tls-key`, `--unix` with `--port`, an unreadable PEM file)
 *   prints `framed COMMAND: what is wrong` and the command's help on stderr, exit 2, before
 *   anything listens, connects or runs. Any other failure (a refused connection, a failed TLS
 *   handshake) prints one line on stderr, `framed COMMAND: what went wrong`, exit 1.
 *
 * @module
 */

import { FLAG_HELP, flagLines, INTEGER_FLAGS_HELP, UsageError } from "./_flags.ts";
import { stickyDemo, udpDemo } from "./demos.ts";
import * as echo from "./echo.ts";
import * as exec from "./exec.ts";
import * as execServer from "./exec_server.ts";
import * as fileServer from "./file_server.ts";
import * as get from "./get.ts";
import * as put from "./put.ts";
import * as send from "./send.ts";

/** A command: one line for `framed --help`, its own help, and what it runs (an exit code, or 0). */
interface Command {
  summary: string;
  help: string;
  run(args: string[]): Promise<number | void>;
}

const COMMANDS: Record<string, Command> = {
  echo: { summary: "serve: echo every frame back unchanged", ...echo },
  send: { summary: "send each MESSAGE as one frame; print one reply per line", ...send },
  "sticky-demo": { summary: "sticky packets (黏包) on a real socket, then fixed", ...stickyDemo },
  "exec-server": {
    summary: "serve: run each request's argv, no shell, within limits",
    ...execServer,
  },
  exec: { summary: "run CMD ARG… on an exec-server; its output and exit code", ...exec },
  "file-server": { summary: "serve: store uploads in DIR, send its files", ...fileServer },
  put: { summary: "upload FILE to a file-server (streamed, sha256-checked)", ...put },
  get: { summary: "download NAME from a file-server into --out FILE", ...get },
  "udp-demo": { summary: "UDP keeps boundaries, and loses datagrams", ...udpDemo },
};

const USAGE = `usage: framed <command> [options]
       framed <command> --help    the command's flags, each with its unit and default

commands:
${
  Object.entries(COMMANDS).map(([name, { summary }]) => `  ${name.padEnd(12)} ${summary}`).join(
    "\n",
  )
}

every command that opens a socket takes --api native|node (default native).

TLS and unix sockets (see each command's --help):
  servers   --tls-cert FILE --tls-key FILE   serve TLS (PEM files; both or neither)
            --unix PATH                      listen on a unix socket instead of TCP
  clients   --tls [--ca FILE] [--servername NAME]
                                             speak TLS; the certificate is always verified
            --unix PATH                      connect to a unix socket instead of TCP
  --unix takes no --host, --port or TLS flag.

numbers are decimal integers:
${flagLines(INTEGER_FLAGS_HELP)}

--token: never empty or whitespace. exec-server off loopback needs --token and TLS: TLS with a
  token is the supported way to expose it beyond this machine.
--dir: must be an existing directory.
length formats: ${FLAG_HELP.lengthFormat[1]}
delimiter escapes: \\n \\r \\t \\0 \\\\ \\xHH (default \\n)`;

/** Whether `args` ask for help (before a `--`, after which everything belongs to the command). */
function asksForHelp(args: string[]): boolean {
  const end = args.indexOf("--");
  return args.slice(0, end < 0 ? args.length : end).some((a) => a === "--help" || a === "-h");
}

/** Runs `framed ARGV…` and resolves with the exit code; never throws. */
export async function main(argv: string[]): Promise<number> {
  const [name, ...args] = argv;
  if (name === undefined || name === "--help" || name === "-h" || name === "help") {
    console.log(USAGE);
    return name === undefined ? 2 : 0;
  }
  const command = COMMANDS[name];
  if (command === undefined) {
    console.error(`framed: unknown command ${name}\n${USAGE}`);
    return 2;
  }
  if (asksForHelp(args)) {
    console.log(command.help);
    return 0;
  }
  try {
    return (await command.run(args)) ?? 0;
  } catch (error) {
    if (
      error instanceof UsageError || (error as { code?: string }).code?.startsWith("ERR_PARSE_ARGS")
    ) {
      console.error(`framed ${name}: ${(error as Error).message}\n${command.help}`);
      return 2;
    }
    console.error(`framed ${name}: ${error instanceof Error ? error.message : String(error)}`);
    return 1;
  }
}
