// `framed udp-demo`: UDP keeps message boundaries (no sticky packets) but promises delivery of
// nothing. Runs in Deno (with --unstable-net, on by default in this repository), Bun and Node.

import {
  bindDatagram,
  type Datagram,
  type DatagramSocket,
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
  /** The loss part: datagrams sent in a burst, how many arrived, and how many the receive queue dropped. */
  burstSent: number;
  burstReceived: number;
  burstDropped: number;
}

// A receive with a deadline: the signal withdraws the receive when time is up, so it cannot take
// a datagram that arrives later (a Promise.race against a timer would leave it waiting).
async function receiveWithin(socket: DatagramSocket, ms: number): Promise<Datagram | null> {
  try {
    return await socket.receive({ signal: AbortSignal.timeout(ms) });
  } catch (error) {
    if ((error as Error).name === "TimeoutError") return null;
    throw error;
  }
}

export async function udpDemo(
  api: SocketApi = "native",
  log: (line: string) => void = console.log,
): Promise<UdpDemoResult> {
  const receiver = await bindDatagram({ api });
  const sender = await bindDatagram({ api });
  try {
    log(`UDP on ${receiver.address} (${api})`);
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

    // 3. Loss: a burst larger than the receiver's buffers (the kernel's, then framed's 4 MiB
    // receive queue), while it is not reading.
    const burstSent = 500;
    const payload = new Uint8Array(60_000);
    for (let i = 0; i < burstSent; i++) await sender.send(payload, receiver.address);
    let burstReceived = 0;
    while (burstReceived < burstSent && (await receiveWithin(receiver, 300)) !== null) {
      burstReceived++;
    }
    const burstDropped = receiver.dropped;
    log(
      `  burst: sent ${burstSent} datagrams of 60,000 bytes, received ${burstReceived}, lost ${
        burstSent - burstReceived
      } (${burstDropped} dropped by the full receive queue, the rest by the kernel)`,
    );
    log("  nothing told the sender: UDP has no acknowledgement and no retransmission");
    return { sentSizes, receivedSizes, oversizeRefused, burstSent, burstReceived, burstDropped };
  } finally {
    sender.close();
    receiver.close();
  }
}
