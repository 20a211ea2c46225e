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
 * framed connect      --framing … PEER [--input lines|raw|hex|base64]
 *                     [--output text|hex|base64|json] [--header JSON] [--wait MS]
 * framed listen       --framing … LISTEN [--output …] [--once]
 *                     [--reply-from-stdin [--input …] [--header JSON]]
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
 * - `connect` sends stdin as frames (one per line by default) and prints every frame received as
 *   one line (text escaped `\\ \n \r \t \xHH`, or hex, base64, json); exit 0 once stdin has ended
 *   and the server ended the connection (or `--wait MS` passed in silence). `listen` prints its
 *   listening line on stderr (stdout carries only frames), prefixes lines with `PEER ` while more
 *   than one connection is open, and with `--reply-from-stdin` sends stdin's frames to every
 *   connection.
 * - `exec` exits with the remote command's exit code (124: timed out, 128: killed by a signal).
 *   `put` and `get` print one line: `uploaded NAME: N bytes, sha256 HEX` or `downloaded …`.
 * - A client's `--tls` always verifies the server's certificate (against `--ca`, or the system's
 *   roots). `exec-server` beyond loopback needs both `--token` and TLS.
 * - A usage mistake (an unknown flag, a number out of its range, a blank `--token`, a missing
 *   `--dir`, `--tls-cert` without `--tls-key`, `--unix` with `--port`, an unreadable PEM file)
 *   prints `framed COMMAND: what is wrong` (naming the flag) and the command's synopsis on
 *   stderr, exit 2, before
 *   anything listens, connects or runs. Any other failure (a refused connection, a failed TLS
 *   handshake) prints one line on stderr, `framed COMMAND: what went wrong`, exit 1.
 *
 * @module
 */

import { errorText, FLAG_HELP, flagLines, INTEGER_FLAGS_HELP, UsageError } from "./_flags.ts";
import { stickyDemo, udpDemo } from "./demos.ts";
import * as echo from "./echo.ts";
import * as exec from "./exec.ts";
import * as execServer from "./exec_server.ts";
import * as fileServer from "./file_server.ts";
import * as get from "./get.ts";
import * as connect from "./connect.ts";
import * as listen from "./listen.ts";
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
  connect: { summary: "netcat for frames: stdin lines out as frames, replies printed", ...connect },
  listen: { summary: "serve: print every frame received; optionally reply from stdin", ...listen },
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
    const usage = usageMessage(error);
    if (usage !== null) {
      // The synopsis (the help up to its first blank line) rather than all of it: the mistake
      // stays on screen.
      const synopsis = command.help.slice(0, command.help.indexOf("\n\n"));
      console.error(
        `framed ${name}: ${usage}\n\n${synopsis}\nrun \`framed ${name} --help\` for every flag and examples`,
      );
      return 2;
    }
    console.error(`framed ${name}: ${errorText(error)}`);
    return 1;
  }
}

/**
 * What a usage mistake says, naming the flag, or `null` when `error` is no usage mistake.
 * node:util's parseArgs (the same messages in Deno and Bun) words its errors for programmers:
 * each is said again for the person at the keyboard.
 */
export function usageMessage(error: unknown): string | null {
  if (error instanceof UsageError) return error.message;
  const code = (error as { code?: unknown }).code;
  if (typeof code !== "string" || !code.startsWith("ERR_PARSE_ARGS")) return null;
  const message = (error as Error).message;
  const flag = /'(-[^' ]+)/.exec(message)?.[1];
  if (flag === undefined) return message;
  if (code === "ERR_PARSE_ARGS_UNKNOWN_OPTION") return `unknown flag ${flag}`;
  if (code === "ERR_PARSE_ARGS_UNEXPECTED_POSITIONAL") {
    return `unexpected argument ${flag}`;
  }
  if (/argument is ambiguous/.test(message)) {
    return `${flag} needs a value; write one that starts with "-" as ${flag}=-…`;
  }
  if (/argument missing/.test(message)) return `${flag} needs a value`;
  if (/does not take an argument/.test(message)) return `${flag} takes no value`;
  return message;
}
