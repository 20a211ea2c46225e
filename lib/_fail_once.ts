// Internal: the rule every decoder follows. After a decode error the decoder stays failed: every
// later push or finish throws the same error, and it never guesses where the next frame starts.

import type { Decoder } from "./codec.ts";

export abstract class FailOnceDecoder<T> implements Decoder<T> {
  #failure: unknown = null;

  abstract get bufferedBytes(): number;

  /** Decodes one chunk; may throw. */
  protected abstract decode(chunk: Uint8Array, onFrame: (frame: T) => void): boolean;

  /** Checks the end of the stream; may throw. */
  protected abstract end(): void;

  push(chunk: Uint8Array, onFrame: (frame: T) => void): boolean {
    if (this.#failure !== null) throw this.#failure;
    try {
      return this.decode(chunk, onFrame);
    } catch (error) {
      this.#failure = error;
      throw error;
    }
  }

  finish(): void {
    if (this.#failure !== null) throw this.#failure;
    this.end();
  }
}
