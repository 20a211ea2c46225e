// `framed sticky-demo` and `framed udp-demo`: the two demos take only --api (they listen and
// connect on ports of their own), so one wrapper makes both commands.

import { parseArgs } from "node:util";
import type { SocketApi } from "../mod.ts";
import { stickyDemo as runStickyDemo } from "../programs/sticky_demo.ts";
import { udpDemo as runUdpDemo } from "../programs/udp_demo.ts";
import { API_OPTION, apiFrom, commandHelp, FLAG_HELP } from "./_flags.ts";

/** A demo as a command: its help, and a run that narrates on stdout. */
interface DemoCommand {
  help: string;
  run(args: string[]): Promise<void>;
}

function demoCommand(
  name: string,
  about: string,
  demo: (api: SocketApi) => Promise<unknown>,
): DemoCommand {
  return {
    help: commandHelp(`${name} [--api native|node]`, about, [FLAG_HELP.api], [
      ["on the runtime's own sockets", `framed ${name}`],
      ["the same on node:net", `framed ${name} --api node`],
    ]),
    run: async (args) => {
      const { values } = parseArgs({ args, options: API_OPTION, strict: true });
      await demo(apiFrom(values.api));
    },
  };
}

const STICKY_ABOUT =
  "Sends `hello` and `world` over a plain TCP byte stream and shows them arrive\n" +
  "glued together, and a 1 MiB reply arrive in pieces; then the same with length-prefix framing:\n" +
  "two frames, and one whole reply.";
const UDP_ABOUT =
  "Sends datagrams of several sizes (each arrives whole, or not at all), shows a payload\n" +
  "over 65,507 bytes refused before sending, then a burst that overflows the receive queue:\n" +
  "datagrams are lost and counted. Deno needs --unstable-net (this repository's deno.json has it).";

export const stickyDemo: DemoCommand = demoCommand("sticky-demo", STICKY_ABOUT, runStickyDemo);
export const udpDemo: DemoCommand = demoCommand("udp-demo", UDP_ABOUT, runUdpDemo);
