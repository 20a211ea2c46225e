// Internal: the bounded receive queue every UDP adapter fills as datagrams arrive.

import { WaitQueue } from "./_wait_queue.ts";
import type { Datagram } from "./datagram.ts";
import { DEFAULT_RECEIVE_QUEUE_BYTES } from "./datagram.ts";

// Roughly what the objects around one payload cost (the Datagram, its Uint8Array and ArrayBuffer,
// the address): counted so that a flood of empty datagrams is bounded too, as the kernel charges
// a buffer's true size rather than its payload.
const DATAGRAM_OVERHEAD = 256;

function datagramSize(datagram: Datagram): number {
  return datagram.data.byteLength + DATAGRAM_OVERHEAD;
}

/**
 * The receive queue of one UDP socket, holding at most `receiveQueueBytes` bytes.
 *
 * @throws {RangeError} When `receiveQueueBytes` is not a non-negative integer.
 */
export function datagramQueue(
  receiveQueueBytes: number = DEFAULT_RECEIVE_QUEUE_BYTES,
): WaitQueue<Datagram> {
  if (!Number.isSafeInteger(receiveQueueBytes) || receiveQueueBytes < 0) {
    throw new RangeError(
      `receiveQueueBytes must be a non-negative integer, got ${receiveQueueBytes}`,
    );
  }
  return new WaitQueue<Datagram>({ maxBytes: receiveQueueBytes, sizeOf: datagramSize });
}
