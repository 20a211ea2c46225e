// `framed echo`: serves every frame back unchanged, in any framing, over TCP, TLS or a unix socket.

import { parseArgs } from "node:util";
import { type Codec, ProxyProtocolError, serve, TlsError } from "../mod.ts";
import {
  commandHelp,
  errorText,
  FLAG_HELP,
  FRAMING_DETAIL_FLAGS_HELP,
  FRAMING_OPTIONS,
  framingFrom,
  LISTEN_FLAGS_HELP,
  LISTEN_OPTIONS,
  LISTEN_SYNOPSIS,
  listenFrom,
  PROXY_FLAGS_HELP,
  PROXY_OPTIONS,
  proxyProtocolFrom,
} from "./_flags.ts";
import { serveUntilSignal } from "./_serve_until_signal.ts";

export const help: string = commandHelp(
  "echo --framing length|delimiter|json-header [--length-format FMT] [--max-frame BYTES]\n" +
    "                   [--length-offset N] [--length-adjustment N] [--strip N]\n" +
    "                   [--delimiter STR] [--api native|node]\n" +
    "                   [--proxy-protocol v1|v2|any] [--verbose]\n" +
    `                   ${LISTEN_SYNOPSIS}`,
  "Prints `listening on HOST:PORT` (`listening on HOST:PORT (TLS)` with --tls-cert and --tls-key,\n" +
    "`listening on unix:PATH` with --unix), then echoes every frame unchanged (for json-header: the\n" +
    "same header bytes and the same body). A connection that sends bad input, or fails its TLS\n" +
    "handshake, is closed and reported on stderr; everyone else is still served. Exits 0 on SIGINT\n" +
    "or SIGTERM. With --proxy-protocol (behind HAProxy `send-proxy`/`send-proxy-v2`, nginx\n" +
    "`proxy_protocol on`), a connection without that header is refused and reported the same way.",
  [
    FLAG_HELP.framing,
    ...FRAMING_DETAIL_FLAGS_HELP,
    ...LISTEN_FLAGS_HELP,
    ...PROXY_FLAGS_HELP,
    FLAG_HELP.api,
  ],
  [
    [
      "an echo server for 4-byte big-endian length prefixes (Python's struct.pack('>I', n))",
      "framed echo --framing length --port 9000",
    ],
    [
      "newline-delimited records over TLS",
      "framed echo --framing delimiter --port 9443 --tls-cert cert.pem --tls-key key.pem",
    ],
    [
      "behind HAProxy (send-proxy-v2), logging each real client",
      "framed echo --framing length --port 9000 --proxy-protocol v2 --verbose",
    ],
  ],
);

export async function run(args: string[]): Promise<void> {
  const { values } = parseArgs({
    args,
    options: { ...FRAMING_OPTIONS, ...LISTEN_OPTIONS, ...PROXY_OPTIONS },
    strict: true,
  });
  const framing = framingFrom(values);
  const where = listenFrom(values);
  const proxyProtocol = proxyProtocolFrom(values["proxy-protocol"], where);
  const verbose = values.verbose === true;
  const server = await serve<unknown>({
    ...where,
    ...(proxyProtocol === undefined ? {} : { proxyProtocol }),
    codec: framing.codec as Codec<unknown>,
    handler: async (conn) => {
      // Behind a PROXY header, remoteAddress is the original client, not the load balancer.
      if (verbose) console.error(`connection from ${conn.remoteAddress}`);
      for await (const frame of conn) {
        if (!conn.write(frame)) await conn.flush();
      }
    },
    // A bad client is closed by serve(); say so on stderr and keep serving everyone else. A failed
    // handshake or PROXY header never became a connection (null); its error names the client.
    onError: (error, conn) => {
      const who = conn !== null
        ? `${conn.remoteAddress}: `
        : error instanceof TlsError || error instanceof ProxyProtocolError
        ? ""
        : "accept: ";
      console.error(`framed echo: ${who}${errorText(error)}`);
    },
  });
  await serveUntilSignal(
    { address: server.address, tls: "tls" in where && where.tls !== undefined },
    () => server.shutdown(),
    server.finished,
  );
}
