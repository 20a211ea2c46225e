// Internal: the loop over partial writes, shared by sendAll() (which adds a queue per writer and
// a broken state) and the frame writer of every connection (whose pump already runs one write at
// a time and owns the connection's write error).

import { PartialWriteError } from "./errors.ts";
import type { Writer } from "./send.ts";

/**
 * Writes every byte of `bytes`, looping over partial writes.
 * @throws {PartialWriteError} When a write fails or accepts 0 bytes; `bytesWritten` says how far.
 */
export async function writeAll(writer: Writer, bytes: Uint8Array): Promise<void> {
  const total = bytes.length;
  let written = 0;
  while (written < total) {
    let accepted: number;
    try {
      accepted = await writer.write(written === 0 ? bytes : bytes.subarray(written));
    } catch (cause) {
      throw new PartialWriteError(written, total, cause);
    }
    if (!(accepted > 0 && accepted <= total - written && Number.isInteger(accepted))) {
      // Like Rust's write_all: a writer that accepts nothing would make us spin forever.
      throw new PartialWriteError(
        written,
        total,
        new Error(`the writer accepted ${accepted} bytes`),
      );
    }
    written += accepted;
  }
}
