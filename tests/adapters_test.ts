// Runs the conformance suite against every adapter the current runtime has: Deno's native
// sockets and node:net under `deno test`, Bun's native sockets and node:net under `bun test`,
// node:net alone under Node (where it is the native API).

import { detectRuntime } from "../mod.ts";
import { conformance } from "./conformance.ts";

const runtime = detectRuntime();
if (runtime !== "node") conformance("native", `${runtime} native`);
conformance("node", `${runtime} node:net`);
