// Internal: the rule every decoder follows. After a decode error the decoder stays failed: every
// later push or finish throws the same error, and it never guesses where the next frame starts.

import type { Decoder } from "./codec.ts";

export abstract class FailOnceDecoder<T> implements Decoder<T> {
  #failure: unknown = null;

  abstract get bufferedBytes(): number;

  /** Decodes one chunk; may throw. */
  protected abstract decode(chunk: Uint8Array, onFrame: (frame: T) => void): boolean;

  /** Checks the end of the stream, emitting a last unterminated frame if any; may throw. */
  protected abstract end(onFrame?: (frame: T) => void): void;

  push(chunk: Uint8Array, onFrame: (frame: T) => void): boolean {
    if (this.#failure !== null) throw this.#failure;
    try {
      return this.decode(chunk, onFrame);
    } catch (error) {
      this.#failure = error;
      throw error;
    }
  }

  finish(onFrame?: (frame: T) => void): void {
    if (this.#failure !== null) throw this.#failure;
    this.end(onFrame);
  }
}
