/**
 * `send` and `sendAll`: Python's `send` versus `sendall`, made impossible to get wrong.
 *
 * A socket write may accept only part of a buffer. Measured here: Deno's `conn.write()` and Bun's
 * `socket.write()` both return after about 3.9 MB of a 64 MB buffer, and Bun drops the rest unless
 * it is resent. Two overlapping Deno writes can interleave. `sendAll` loops over partial writes and
 * serializes every write on the same writer, so neither can happen.
 *
 * @module
 */

import { writeAll } from "./_write_all.ts";
import { PartialWriteError } from "./errors.ts";

/**
 * The smallest thing that can be written to. A Deno `Conn` satisfies it as it is; the Bun and
 * Node net adapters provide one. A write may accept fewer bytes than it was given, but never zero
 * for a non-empty buffer: a writer that has no room waits until it has.
 */
export interface Writer {
  /**
   * Writes some prefix of `bytes`.
   * @returns How many bytes were accepted.
   */
  write(bytes: Uint8Array): Promise<number>;
  /**
   * Optional: writes every byte of every segment, in order, as one vectored write (`writev`)
   * when the runtime has one, never partially. Resolves once the runtime holds no reference to
   * any segment (they may be reused or changed then); rejects when the connection fails first.
   * A stream that has it is sent large bodies by reference, with no copy at all.
   */
  writev?(segments: readonly Uint8Array[]): Promise<void>;
}

// The tail of each writer's queue. Every send and sendAll on a writer waits for the one before it.
const queues = new WeakMap<Writer, Promise<unknown>>();
// A writer whose earlier sendAll failed part-way: the stream is out of step for good.
const broken = new WeakMap<Writer, PartialWriteError>();

function enqueue<T>(writer: Writer, task: () => Promise<T>): Promise<T> {
  const previous = queues.get(writer);
  const run = previous === undefined ? task() : previous.then(task, task);
  const tail = run.then(
    () => {},
    () => {},
  );
  queues.set(writer, tail);
  // Forget the queue once it drains, so an idle writer costs nothing here.
  void tail.then(() => {
    if (queues.get(writer) === tail) queues.delete(writer);
  });
  return run;
}

/**
 * Writes once, like Python's `socket.send`: the write may be partial. It still waits for any
 * earlier `send`/`sendAll` on the same writer, so bytes never interleave.
 *
 * @param writer Where to write.
 * @param bytes What to write.
 * @returns How many bytes were accepted; the caller owns the rest.
 *
 * @example
 * ```ts
 * import { send } from "@nianbao/framed";
 *
 * // A writer that takes at most 3 bytes per call, like a socket whose buffer is nearly full.
 * const writer = { write: (bytes: Uint8Array) => Promise.resolve(Math.min(bytes.length, 3)) };
 * if (await send(writer, new Uint8Array(10)) !== 3) throw new Error("send() reports what was taken");
 * ```
 */
export function send(writer: Writer, bytes: Uint8Array): Promise<number> {
  return enqueue(writer, () => {
    const failure = broken.get(writer);
    return failure === undefined ? writer.write(bytes) : Promise.reject(failure);
  });
}

/**
 * Writes every byte, like Python's `socket.sendall`, looping over partial writes. Calls on the same
 * writer run one after another and never interleave. On failure it reports exactly how many bytes
 * were written, and the writer is marked broken: every later call fails at once, because the peer's
 * view of the stream is out of step.
 *
 * @param writer Where to write.
 * @param bytes What to write. An empty buffer writes nothing and resolves.
 * @throws {PartialWriteError} When a write fails or accepts 0 bytes; `bytesWritten` says how far it got.
 *
 * @example A writer that takes at most 4 bytes per call still gets everything, in order
 * ```ts
 * import { sendAll } from "@nianbao/framed";
 *
 * const received: number[] = [];
 * const writer = {
 *   write(bytes: Uint8Array) {
 *     const n = Math.min(bytes.length, 4);
 *     received.push(...bytes.subarray(0, n));
 *     return Promise.resolve(n);
 *   },
 * };
 * await Promise.all([sendAll(writer, new Uint8Array(10).fill(1)), sendAll(writer, new Uint8Array(10).fill(2))]);
 * if (received.join("") !== "1".repeat(10) + "2".repeat(10)) throw new Error("interleaved");
 * ```
 */
export function sendAll(writer: Writer, bytes: Uint8Array): Promise<void> {
  return enqueue(writer, () => writeAllOnce(writer, bytes));
}

async function writeAllOnce(writer: Writer, bytes: Uint8Array): Promise<void> {
  const earlier = broken.get(writer);
  if (earlier !== undefined) throw new PartialWriteError(0, bytes.length, earlier);
  try {
    await writeAll(writer, bytes);
  } catch (error) {
    throw markBroken(writer, error as PartialWriteError);
  }
}

function markBroken(writer: Writer, error: PartialWriteError): PartialWriteError {
  broken.set(writer, error);
  return error;
}
