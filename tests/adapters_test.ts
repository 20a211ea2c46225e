// Runs the conformance suite against every adapter the current runtime has: Deno's native
// sockets and node:net under `deno test`, Bun's native sockets and node:net under `bun test`.

import { detectRuntime } from "../mod.ts";
import { conformance } from "./conformance.ts";

const runtime = detectRuntime();
conformance("native", `${runtime} native`);
conformance("node", `${runtime} node:net`);
