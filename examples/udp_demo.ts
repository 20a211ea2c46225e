// `framed udp-demo`: UDP keeps message boundaries (no sticky packets) but promises delivery of
// nothing. Runs in Deno (with --unstable-net, on by default in this repository), Bun and Node.

import {
  bindDatagram,
  type Datagram,
  DatagramTooLargeError,
  MAX_DATAGRAM_PAYLOAD,
  type SocketApi,
} from "../mod.ts";

export interface UdpDemoResult {
  /** Sizes sent in the boundary part, and the sizes received, one per datagram. */
  sentSizes: number[];
  receivedSizes: number[];
  /** Whether a 65,508-byte payload was refused before sending. */
  oversizeRefused: boolean;
  /** The loss part: datagrams sent in a burst, and how many arrived. */
  burstSent: number;
  burstReceived: number;
}

async function receiveWithin(
  socket: { receive(): Promise<Datagram | null> },
  ms: number,
): Promise<Datagram | null> {
  let timer: ReturnType<typeof setTimeout> | undefined;
  const timeout = new Promise<null>((resolve) => (timer = setTimeout(() => resolve(null), ms)));
  const result = await Promise.race([socket.receive(), timeout]);
  clearTimeout(timer);
  return result;
}

export async function udpDemo(
  api: SocketApi = "native",
  log: (line: string) => void = console.log,
): Promise<UdpDemoResult> {
  const receiver = await bindDatagram({ api });
  const sender = await bindDatagram({ api });
  try {
    log(`UDP on 127.0.0.1:${receiver.address.port} (${api})`);
    // 1. Boundaries: every datagram arrives as exactly one message, even back to back.
    const sentSizes = [5, 5, 0, 1000, MAX_DATAGRAM_PAYLOAD];
    for (const size of sentSizes) {
      await sender.send(new Uint8Array(size).fill(0x61), receiver.address);
    }
    const receivedSizes: number[] = [];
    for (let i = 0; i < sentSizes.length; i++) {
      const datagram = await receiveWithin(receiver, 1000);
      if (datagram === null) break;
      receivedSizes.push(datagram.data.length);
    }
    log(
      `  sent ${sentSizes.length} datagrams of ${
        sentSizes.join(", ")
      } bytes (an empty one included)`,
    );
    log(
      `  received ${receivedSizes.length} messages of ${
        receivedSizes.join(", ")
      } bytes: no merging, no splitting`,
    );

    // 2. The size limit: refused before anything is sent.
    let oversizeRefused = false;
    try {
      await sender.send(new Uint8Array(MAX_DATAGRAM_PAYLOAD + 1), receiver.address);
    } catch (error) {
      oversizeRefused = error instanceof DatagramTooLargeError;
      log(`  ${MAX_DATAGRAM_PAYLOAD + 1} bytes: ${(error as Error).message}`);
    }

    // 3. Loss: a burst larger than the receiver's kernel buffer, while it is not reading.
    const burstSent = 500;
    const payload = new Uint8Array(60_000);
    for (let i = 0; i < burstSent; i++) await sender.send(payload, receiver.address);
    let burstReceived = 0;
    while ((await receiveWithin(receiver, 300)) !== null) burstReceived++;
    log(
      `  burst: sent ${burstSent} datagrams of 60,000 bytes, received ${burstReceived}, lost ${
        burstSent - burstReceived
      }`,
    );
    log("  nothing told the sender: UDP has no acknowledgement and no retransmission");
    return { sentSizes, receivedSizes, oversizeRefused, burstSent, burstReceived };
  } finally {
    sender.close();
    receiver.close();
  }
}
