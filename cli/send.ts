// `framed send`: the protocol tool's client. Every MESSAGE goes out as one frame, all before any
// reply is read, then one reply body is printed per line.

import { type Codec, connect } from "../mod.ts";
import {
  commandHelp,
  FLAG_HELP,
  FRAMING_DETAIL_FLAGS_HELP,
  FRAMING_OPTIONS,
  framingFrom,
  parseWithPositionals,
  PEER_FLAGS_HELP,
  PEER_OPTIONS,
  PEER_SYNOPSIS,
  type PeerEndpoint,
  peerFrom,
} from "./_flags.ts";

export const help: string = commandHelp(
  "send --framing length|delimiter|json-header [--length-format FMT] [--delimiter STR]\n" +
    "                   [--max-frame BYTES] [--length-offset N] [--length-adjustment N]\n" +
    "                   [--strip N] [--api native|node]\n" +
    `                   ${PEER_SYNOPSIS} MESSAGE…`,
  'Writes every MESSAGE as one frame (for json-header the header is {"data_size": n}, serialized\n' +
    "like Python's json.dumps), all before reading any reply, then prints one reply body per line.\n" +
    "Over TLS (--tls) the server's certificate is always verified: against --ca when given, else\n" +
    "the system's trusted roots, for the name --servername or else --host.",
  [
    FLAG_HELP.framing,
    ...FRAMING_DETAIL_FLAGS_HELP,
    ...PEER_FLAGS_HELP,
    FLAG_HELP.api,
  ],
  [
    [
      "two frames to a length-prefixed server; one reply per line",
      "framed send --framing length --port 9000 hello world",
    ],
    [
      "the seed's JSON-header protocol: struct.pack('i', n) on x86 is i32le",
      "framed send --framing json-header --length-format i32le --port 9000 'ls -l'",
    ],
  ],
);

export async function run(args: string[]): Promise<void> {
  const { values, positionals } = parseWithPositionals(args, {
    ...FRAMING_OPTIONS,
    ...PEER_OPTIONS,
  });
  const framing = framingFrom(values);
  const target = peerFrom(values);
  const messages = positionals.map((m) => new TextEncoder().encode(m));
  const replies = framing.kind === "json"
    ? await exchange(
      target,
      framing.codec,
      messages.map((body) => ({ header: {}, body })),
      (f) => f.body,
    )
    : await exchange(target, framing.codec, messages, (f) => f);
  for (const reply of replies) console.log(new TextDecoder().decode(reply));
}

/** Sends every frame (all written before any reply is read), then collects one reply per frame. */
async function exchange<T>(
  target: PeerEndpoint,
  codec: Codec<T>,
  frames: T[],
  bodyOf: (frame: T) => Uint8Array,
): Promise<Uint8Array[]> {
  const conn = await connect({ ...target, codec });
  const replies: Uint8Array[] = [];
  // Receive concurrently, so replies larger than the socket buffers cannot deadlock the writes.
  const received = conn.onFrame((frame) => {
    replies.push(bodyOf(frame));
    if (replies.length === frames.length) conn.close();
  });
  for (const frame of frames) conn.write(frame);
  if (frames.length === 0) conn.close();
  await conn.flush();
  await received;
  if (replies.length < frames.length) {
    throw new Error(
      `the server closed the connection after ${replies.length} of ${frames.length} replies`,
    );
  }
  return replies;
}
