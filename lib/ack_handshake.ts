/**
 * The ack handshake, the seed's first fix for sticky packets, as two pure state machines.
 *
 * Exact bytes, per message:
 *
 * ```
 * sender   → receiver   LENGTH    the payload length in the length format (default u32be)
 * receiver → sender     0x06      ACK: send the payload
 *                       0x15      NAK: refused (over maxFrameLength); the receiver then closes
 * sender   → receiver   PAYLOAD   exactly LENGTH bytes (nothing for LENGTH = 0)
 * ```
 *
 * One message is in flight at a time, so every message costs one extra round trip.
 *
 * @module
 */

import { LengthPrefixDecoder } from "./_length_prefix_decoder.ts";
import type { Decoder } from "./codec.ts";
import { AckProtocolError, FrameTooLargeError } from "./errors.ts";
import { encodeLength, type LengthFormat, maxLengthOf } from "./length_format.ts";
import { DEFAULT_MAX_FRAME_LENGTH } from "./length_prefix.ts";

/**
 * The byte a receiver sends to accept an announced frame (ASCII ACK).
 *
 * @example
 * ```ts
 * import { ACK, AckReceiver } from "@nianbao/framed";
 *
 * const receiver = new AckReceiver({ lengthFormat: "u8" });
 * receiver.push(new Uint8Array([1]), () => {});
 * if (receiver.takeReply()?.[0] !== ACK) throw new Error("expected an ACK");
 * ```
 */
export const ACK = 0x06;
/**
 * The byte a receiver sends to refuse an announced frame (ASCII NAK).
 *
 * @example
 * ```ts
 * import { AckReceiver, NAK } from "@nianbao/framed";
 *
 * const receiver = new AckReceiver({ lengthFormat: "u8", maxFrameLength: 4 });
 * try {
 *   receiver.push(new Uint8Array([200]), () => {});
 * } catch {
 *   // the frame is refused; the NAK is owed to the sender
 * }
 * if (receiver.takeReply()?.[0] !== NAK) throw new Error("expected a NAK");
 * ```
 */
export const NAK = 0x15;

/** Options of both sides of the ack handshake. */
export interface AckHandshakeOptions {
  /** How the announced length is written. Default `"u32be"`. */
  lengthFormat?: LengthFormat;
  /** The largest payload, in bytes. Default 16 MiB. */
  maxFrameLength?: number;
}

/**
 * The sending side: announce, wait for the ACK, then send the payload.
 *
 * @example Driving both sides by hand
 * ```ts
 * import { AckReceiver, AckSender } from "@nianbao/framed";
 *
 * const sender = new AckSender();
 * const receiver = new AckReceiver();
 * const frames: Uint8Array[] = [];
 * receiver.push(sender.announce(new Uint8Array([7, 8])), (f) => frames.push(f));
 * const payload = sender.receive(receiver.takeReply()!);
 * receiver.push(payload!, (f) => frames.push(f));
 * if (String(frames) !== "7,8") throw new Error("the payload did not arrive");
 * ```
 */
export class AckSender {
  readonly #format: LengthFormat;
  readonly #maxFrameLength: number;
  #waiting: Uint8Array | null = null;

  /**
   * Creates one side of the handshake.
   *
   * @param options Length format and frame limit; both sides must agree.
   */
  constructor(options: AckHandshakeOptions = {}) {
    this.#format = options.lengthFormat ?? "u32be";
    this.#maxFrameLength = Math.min(
      options.maxFrameLength ?? DEFAULT_MAX_FRAME_LENGTH,
      maxLengthOf(this.#format),
    );
  }

  /** `"idle"` when a new message may be announced, `"awaiting-ack"` while one is pending. */
  get state(): "idle" | "awaiting-ack" {
    return this.#waiting === null ? "idle" : "awaiting-ack";
  }

  /**
   * Starts sending `payload`.
   * @param payload The message. It is kept by reference until the ACK arrives.
   * @returns The header bytes to send now.
   * @throws {AckProtocolError} When a message is already awaiting its ACK.
   * @throws {FrameTooLargeError} When the payload is over the limit.
   */
  announce(payload: Uint8Array): Uint8Array {
    if (this.#waiting !== null) {
      throw new AckProtocolError("busy", "a message is already waiting for its ACK");
    }
    if (payload.length > this.#maxFrameLength) {
      throw new FrameTooLargeError(payload.length, this.#maxFrameLength, "encode");
    }
    this.#waiting = payload;
    return encodeLength(this.#format, payload.length);
  }

  /**
   * Feeds bytes received from the receiver.
   * @param reply The received bytes; normally one ACK byte.
   * @returns The payload to send now, or `null` when `reply` was empty.
   * @throws {AckProtocolError} On a NAK, or any byte that was not expected.
   */
  receive(reply: Uint8Array): Uint8Array | null {
    if (reply.length === 0) return null;
    const payload = this.#waiting;
    if (payload === null || reply.length > 1) {
      throw new AckProtocolError(
        "unexpected-byte",
        "received a reply byte that answers no message",
      );
    }
    this.#waiting = null;
    if (reply[0] === ACK) return payload;
    if (reply[0] === NAK) {
      throw new AckProtocolError(
        "refused",
        `the receiver refused a frame of ${payload.length} bytes`,
      );
    }
    throw new AckProtocolError(
      "unexpected-byte",
      `expected ACK (0x06) or NAK (0x15), got 0x${reply[0]!.toString(16)}`,
    );
  }
}

/**
 * The receiving side: a decoder that also produces the ACK (or NAK) bytes to send back. After
 * every `push`, send what {@linkcode AckReceiver.takeReply} returns, also when `push` threw: a
 * refused frame is answered with a NAK before the error.
 *
 * @example
 * ```ts
 * import { AckReceiver, ACK } from "@nianbao/framed";
 *
 * const receiver = new AckReceiver({ lengthFormat: "u8" });
 * receiver.push(new Uint8Array([3]), () => {});
 * if (receiver.takeReply()?.[0] !== ACK) throw new Error("expected one ACK byte");
 * ```
 */
export class AckReceiver implements Decoder<Uint8Array> {
  readonly #decoder: LengthPrefixDecoder;
  readonly #maxFrameLength: number;
  #acks = 0;
  #refused = false;

  /**
   * Creates one side of the handshake.
   *
   * @param options Length format and frame limit; both sides must agree.
   */
  constructor(options: AckHandshakeOptions = {}) {
    const format = options.lengthFormat ?? "u32be";
    this.#maxFrameLength = Math.min(
      options.maxFrameLength ?? DEFAULT_MAX_FRAME_LENGTH,
      maxLengthOf(format),
    );
    this.#decoder = new LengthPrefixDecoder(format, this.#maxFrameLength, {
      onHeader: () => this.#acks++,
    });
  }

  /** Bytes of an unfinished message held. */
  get bufferedBytes(): number {
    return this.#decoder.bufferedBytes;
  }

  /**
   * Feeds bytes from the sender and emits each complete payload.
   * @returns `true` when an emitted frame is a view into `chunk`.
   * @throws {FrameTooLargeError} When a frame over the limit is announced (a NAK is queued first).
   */
  push(chunk: Uint8Array, onFrame: (frame: Uint8Array) => void): boolean {
    try {
      return this.#decoder.push(chunk, onFrame);
    } catch (error) {
      if (error instanceof FrameTooLargeError) this.#refused = true;
      throw error;
    }
  }

  /**
   * Declares the end of the sender's stream.
   *
   * @throws {IncompleteFrameError} When the stream ended mid-message.
   */
  finish(): void {
    this.#decoder.finish();
  }

  /**
   * Takes the reply bytes owed to the sender: one ACK per announced message, then a NAK if one was
   * refused.
   * @returns The bytes to send, or `null` when nothing is owed.
   */
  takeReply(): Uint8Array | null {
    const acks = this.#acks;
    const refused = this.#refused;
    this.#acks = 0;
    this.#refused = false;
    if (acks === 0 && !refused) return null;
    const reply = new Uint8Array(acks + (refused ? 1 : 0)).fill(ACK);
    if (refused) reply[acks] = NAK;
    return reply;
  }
}
