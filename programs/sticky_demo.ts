// `framed sticky-demo`: the sticky-packet problem (黏包), reproduced on a real loopback socket and
// then fixed with length-prefix framing. Both halves run in Deno and in Bun.
//
// The unframed half is the program every socket tutorial starts with: plain bytes over the
// runtime's own sockets (framed's byte streams, with no framing). Two conditions are forced so that
// the demo is deterministic rather than lucky:
//   1. the receiver waits before its first read, so `hello` and `world` are both in the kernel
//      buffer and one read returns them glued together;
//   2. the reply (1 MiB) is larger than one read, so it arrives in pieces.

import {
  connect,
  connectStream,
  lengthPrefix,
  listenStreams,
  sendAll,
  serve,
  type SocketApi,
} from "../mod.ts";

export interface StickyDemoResult {
  /** What the unframed server got from its single read of two messages. */
  unframedReads: string[];
  /** The sizes of the reads that assembled the unframed reply. */
  unframedReplyPieces: number[];
  /** What the framed server got: one frame per message. */
  framedFrames: string[];
  /** The size of the framed reply, delivered as one frame. */
  framedReplyLength: number;
}

const MESSAGES = ["hello", "world"];
const REPLY_SIZE = 1024 * 1024;

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

async function unframed(
  api: SocketApi,
  log: (line: string) => void,
): Promise<[string[], number[]]> {
  const listener = await listenStreams({ api });
  const serverReads: string[] = [];
  const serving = (async () => {
    const stream = (await listener.accept())!;
    // Condition 1: both sends are in the kernel buffer before the first read.
    await sleep(200);
    await new Promise<void>((resolve) => {
      stream.start({
        data(chunk) {
          serverReads.push(new TextDecoder().decode(chunk));
          log(
            `  server: read #${serverReads.length} returned ${JSON.stringify(serverReads.at(-1))}`,
          );
          resolve();
          return false;
        },
        end: resolve,
        error: resolve,
      });
    });
    stream.pause();
    await sendAll(stream, new Uint8Array(REPLY_SIZE).fill(0x2a));
    return stream;
  })();
  const client = await connectStream({ api, port: listener.address.port });
  for (const message of MESSAGES) {
    await sendAll(client, new TextEncoder().encode(message));
    log(`  client: send(${JSON.stringify(message)})`);
    await sleep(20); // two separate sends, even two separate TCP segments
  }
  // Condition 2: the reply is larger than one read.
  const pieces: number[] = [];
  await new Promise<void>((resolve) => {
    let received = 0;
    client.start({
      data(chunk) {
        pieces.push(chunk.length);
        received += chunk.length;
        if (received >= REPLY_SIZE) resolve();
        return false;
      },
      end: resolve,
      error: resolve,
    });
  });
  log(
    `  client: the ${REPLY_SIZE}-byte reply took ${pieces.length} reads (${
      pieces.slice(0, 4).join(", ")
    }${pieces.length > 4 ? ", …" : ""} bytes)`,
  );
  client.close();
  (await serving).close();
  listener.close();
  return [serverReads, pieces];
}

async function framed(api: SocketApi, log: (line: string) => void): Promise<[string[], number]> {
  const frames: string[] = [];
  const server = await serve({
    api,
    codec: lengthPrefix(),
    handler: async (conn) => {
      await sleep(200); // the same wait as the unframed server: it no longer matters
      for await (const frame of conn) {
        frames.push(new TextDecoder().decode(frame));
        log(`  server: frame ${JSON.stringify(frames.at(-1))}`);
        if (frames.length === MESSAGES.length) {
          await conn.writeFrame(new Uint8Array(REPLY_SIZE).fill(0x2a));
        }
      }
    },
  });
  const conn = await connect({ api, port: server.address.port });
  for (const message of MESSAGES) {
    conn.write(new TextEncoder().encode(message));
    log(`  client: write(${JSON.stringify(message)})`);
  }
  const reply = await conn.readFrame();
  log(`  client: the ${reply?.length}-byte reply arrived as one frame`);
  conn.close();
  await server.shutdown();
  return [frames, reply?.length ?? 0];
}

/**
 * Runs both halves and reports what each side sent and received.
 *
 * @param api Socket API for the framed half.
 * @param log Where the narration goes.
 */
export async function stickyDemo(
  api: SocketApi = "native",
  log: (line: string) => void = console.log,
): Promise<StickyDemoResult> {
  log("Without framing (a plain TCP byte stream):");
  const [unframedReads, unframedReplyPieces] = await unframed(api, log);
  log("With length-prefix framing (framed):");
  const [framedFrames, framedReplyLength] = await framed(api, log);
  return { unframedReads, unframedReplyPieces, framedFrames, framedReplyLength };
}
