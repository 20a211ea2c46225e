/**
 * The entry of `framed`, the command line: `deno run -A cli.ts …`, `bun cli.ts …` or
 * `node --import tsx cli.ts …`. The commands live in `cli/` (see `cli/main.ts`).
 *
 * @module
 */

import { realpathSync } from "node:fs";
import process from "node:process";
import { fileURLToPath } from "node:url";
import { main } from "./cli/main.ts";

// Deno and Bun say whether this file is the entry point; Node 20 does not, so compare the path
// Node was started with (tsx runs `node --import tsx cli.ts`).
const isEntryPoint = import.meta.main ??
  (process.argv[1] !== undefined &&
    realpathSync(process.argv[1]) === fileURLToPath(import.meta.url));
if (isEntryPoint) process.exit(await main(process.argv.slice(2)));
