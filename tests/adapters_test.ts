// Runs the conformance suite against every adapter the current runtime has, over every transport
// (TCP, TLS, a unix socket): Deno's native sockets and node:net under `deno test`, Bun's native
// sockets and node:net under `bun test`, node:net alone under Node (where it is the native API).

import { detectRuntime } from "../mod.ts";
import { SOCKET_APIS } from "./_helpers.ts";
import { conformance, type Transport } from "./conformance.ts";

const runtime = detectRuntime();
const TRANSPORTS: readonly Transport[] = ["tcp", "tls", "unix"];
for (const api of SOCKET_APIS) {
  for (const transport of TRANSPORTS) {
    conformance(api, transport, `${runtime} ${api === "native" ? "native" : "node:net"}`);
  }
}
