// UDP sockets on real loopback sockets, on the runtime's native API and on node:dgram: the receive
// queue is bounded in bytes (new datagrams dropped and counted, the earliest kept), and a receive
// that gave up does not take a datagram with it.

import { test } from "node:test";
import assert from "node:assert/strict";
import { bindDatagram, type DatagramSocket, detectRuntime, type SocketApi } from "../mod.ts";
import { sleep, SOCKET_APIS, waitFor } from "./_helpers.ts";

const T = { timeout: 60_000 };
const runtime = detectRuntime();

// Bounds a wait that the old code never ended, so a regression fails instead of hanging.
async function within<V>(promise: Promise<V>, what: string, ms = 5_000): Promise<V> {
  let timer: ReturnType<typeof setTimeout> | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`timed out waiting for ${what}`)), ms);
  });
  try {
    return await Promise.race([promise, timeout]);
  } finally {
    clearTimeout(timer);
  }
}

// A payload that starts with its sequence number (when it has room for one).
function numbered(seq: number, size: number): Uint8Array {
  const payload = new Uint8Array(size);
  if (size >= 4) new DataView(payload.buffer).setUint32(0, seq);
  return payload;
}

// Sends in small batches with a turn of the event loop between them, so the receiver (in this
// same process) empties the kernel buffer before it fills: then only framed's queue drops.
async function flood(sender: DatagramSocket, to: DatagramSocket, count: number, size: number) {
  for (let seq = 0; seq < count; seq++) {
    await sender.send(numbered(seq, size), to.address);
    if (seq % 8 === 7) await sleep(1);
  }
}

// Waits until the receive loop has taken everything the kernel held: `dropped` stops moving.
async function settle(socket: DatagramSocket): Promise<void> {
  await waitFor(() => socket.dropped > 0, "the first dropped datagram");
  for (let steady = 0, last = -1, round = 0; steady < 3 && round < 200; round++) {
    await sleep(20);
    steady = socket.dropped === last ? steady + 1 : 0;
    last = socket.dropped;
  }
}

// Takes what is queued now: stops at the first receive that finds nothing within 200 ms.
async function drain(socket: DatagramSocket, limit: number): Promise<Uint8Array[]> {
  const taken: Uint8Array[] = [];
  while (taken.length < limit) {
    try {
      const datagram = await socket.receive({ signal: AbortSignal.timeout(200) });
      if (datagram === null) break;
      taken.push(datagram.data);
    } catch (error) {
      if ((error as Error).name !== "TimeoutError") throw error;
      break;
    }
  }
  return taken;
}

async function withPair(
  api: SocketApi,
  receiveQueueBytes: number | undefined,
  body: (receiver: DatagramSocket, sender: DatagramSocket) => Promise<void>,
): Promise<void> {
  const receiver = await bindDatagram({ api, receiveQueueBytes });
  const sender = await bindDatagram({ api });
  try {
    await body(receiver, sender);
  } finally {
    sender.close();
    receiver.close();
  }
}

for (const api of SOCKET_APIS) {
  const on = `(${runtime} ${api})`;

  test(
    `a socket nobody reads keeps the earliest datagrams within receiveQueueBytes and counts the dropped ${on}`,
    T,
    async () => {
      const bound = 16 * 1024;
      const size = 1000;
      const sent = 200;
      await withPair(api, bound, async (receiver, sender) => {
        await flood(sender, receiver, sent, size);
        await settle(receiver);
        const kept = await drain(receiver, sent);
        const seqs = kept.map((data) => new DataView(data.buffer, data.byteOffset).getUint32(0));
        assert.ok(kept.length > 0, "nothing was kept");
        assert.ok(
          kept.length * size <= bound,
          `${kept.length} datagrams of ${size} bytes were queued, over the ${bound}-byte bound`,
        );
        assert.deepEqual(seqs, seqs.map((_, i) => i), "the earliest datagrams, in order");
        assert.ok(receiver.dropped > 0, "no datagram was counted as dropped");
        assert.ok(kept.length + receiver.dropped <= sent, `${receiver.dropped} dropped of ${sent}`);
      });
    },
  );

  test(`a flood of empty datagrams is bounded too ${on}`, T, async () => {
    const bound = 4096;
    await withPair(api, bound, async (receiver, sender) => {
      await flood(sender, receiver, 200, 0);
      await settle(receiver);
      const kept = await drain(receiver, 200);
      assert.ok(kept.length > 0 && kept.length < 200, `kept ${kept.length} of 200`);
      assert.ok(receiver.dropped > 0);
    });
  });

  test(
    `an aborted receive() rejects with the signal's reason and leaves the next datagram to the next receive() ${on}`,
    T,
    async () => {
      await withPair(api, undefined, async (receiver, sender) => {
        const controller = new AbortController();
        const abandoned = receiver.receive({ signal: controller.signal });
        controller.abort();
        await within(assert.rejects(abandoned, { name: "AbortError" }), "the aborted receive");

        const reason = new Error("gave up");
        const other = new AbortController();
        const alsoAbandoned = receiver.receive({ signal: other.signal });
        other.abort(reason);
        await within(assert.rejects(alsoAbandoned, (error) => error === reason), "the reason");

        await sender.send(new TextEncoder().encode("next"), receiver.address);
        const datagram = await within(receiver.receive(), "the next datagram");
        assert.equal(new TextDecoder().decode(datagram?.data), "next");
      });
    },
  );

  test(
    `a receive() whose timeout fired does not swallow the datagram that follows ${on}`,
    T,
    async () => {
      await withPair(api, undefined, async (receiver, sender) => {
        await within(
          assert.rejects(receiver.receive({ signal: AbortSignal.timeout(20) }), {
            name: "TimeoutError",
          }),
          "the timed-out receive",
        );
        await sender.send(new TextEncoder().encode("late"), receiver.address);
        const datagram = await within(receiver.receive(), "the late datagram");
        assert.equal(new TextDecoder().decode(datagram?.data), "late");
      });
    },
  );

  test(
    `a receive() with an already aborted signal rejects and takes no datagram ${on}`,
    T,
    async () => {
      await withPair(api, undefined, async (receiver, sender) => {
        await sender.send(new TextEncoder().encode("first"), receiver.address);
        await sender.send(new TextEncoder().encode("kept"), receiver.address);
        await within(receiver.receive(), "the first datagram");
        await sleep(20); // let "kept" reach the queue, so the aborted receive() could take it
        await within(
          assert.rejects(receiver.receive({ signal: AbortSignal.abort() }), { name: "AbortError" }),
          "the pre-aborted receive",
        );
        const datagram = await within(receiver.receive(), "the kept datagram");
        assert.equal(new TextDecoder().decode(datagram?.data), "kept");
      });
    },
  );

  test(`close() ends a pending receive() with null ${on}`, T, async () => {
    const socket = await bindDatagram({ api });
    const pending = socket.receive();
    socket.close();
    assert.equal(await within(pending, "the pending receive"), null);
    assert.equal(await socket.receive(), null);
  });

  test(
    `bindDatagram() refuses a receiveQueueBytes that is not a non-negative integer ${on}`,
    T,
    async () => {
      for (const receiveQueueBytes of [-1, 1.5, Number.NaN]) {
        await assert.rejects(bindDatagram({ api, receiveQueueBytes }), RangeError);
      }
    },
  );
}
