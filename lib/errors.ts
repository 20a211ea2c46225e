/**
 * Typed errors. Every error that framed throws is a {@linkcode FramedError} with a stable `code`,
 * and carries the numbers a user needs to understand it (announced length, limit, bytes received).
 *
 * @module
 */

import type { Address } from "./byte_stream.ts";
import { formatAddress } from "./net_address.ts";
import { causeCode, failureReason } from "./_socket_failure.ts";

/**
 * Base class of every error framed throws on purpose.
 *
 * @example Telling framed's errors apart from others
 * ```ts
 * import { FramedError, FrameTooLargeError } from "@nianbao/framed";
 *
 * const error = new FrameTooLargeError(100, 10, "decode");
 * if (!(error instanceof FramedError)) throw new Error("not a FramedError");
 * if (error.code !== "FRAME_TOO_LARGE") throw new Error("wrong code");
 * ```
 */
export class FramedError extends Error {
  /** A stable, machine-readable identifier such as `"FRAME_TOO_LARGE"`. */
  readonly code: string;

  /**
   * Creates the error.
   *
   * @param code A stable identifier for the kind of failure.
   * @param message A human-readable explanation.
   * @param options Standard error options, such as `cause`.
   */
  constructor(code: string, message: string, options?: ErrorOptions) {
    super(message, options);
    this.name = new.target.name;
    this.code = code;
  }
}

/**
 * What an error message calls one unit of a stream: `"frame"` for the length-prefixed and
 * JSON-header codecs, `"record"` for {@linkcode delimiter}'s records, `"line"` for
 * {@linkcode lines}.
 */
export type FrameUnit = "frame" | "record" | "line";

/**
 * A frame announced (or, when encoding, had) more bytes than the limit allows. Thrown *before*
 * anything is buffered or allocated for the body.
 *
 * @example
 * ```ts
 * import { FrameTooLargeError } from "@nianbao/framed";
 *
 * const error = new FrameTooLargeError(20_000_000, 16_777_216, "decode");
 * if (error.length !== 20_000_000 || error.maxFrameLength !== 16_777_216) {
 *   throw new Error("the error lost its numbers");
 * }
 * ```
 */
export class FrameTooLargeError extends FramedError {
  /** The length the peer announced, or the length of the frame being encoded. */
  readonly length: number;
  /** The limit that was exceeded. */
  readonly maxFrameLength: number;
  /** Whether the frame was being decoded (received) or encoded (sent). */
  readonly direction: "decode" | "encode";

  /**
   * Creates the error.
   *
   * @param length The announced or actual length.
   * @param maxFrameLength The configured limit.
   * @param direction `"decode"` for received frames, `"encode"` for frames being sent.
   * @param unit What the message calls a frame: `"record"` for delimited text, `"line"` for lines.
   */
  constructor(
    length: number,
    maxFrameLength: number,
    direction: "decode" | "encode",
    unit: FrameUnit = "frame",
  ) {
    super(
      "FRAME_TOO_LARGE",
      `${direction === "decode" ? "received" : "refusing to send"} a ${unit} of ${length} bytes, ` +
        `over the limit of ${maxFrameLength} bytes`,
    );
    this.length = length;
    this.maxFrameLength = maxFrameLength;
    this.direction = direction;
  }
}

/**
 * The stream ended in the middle of a frame. `received` bytes of the frame had arrived; `expected`
 * is the frame's full size on the wire when it was known (it is `undefined` while the header itself
 * was incomplete and its size unknown, as for a varint or a delimiter).
 *
 * @example
 * ```ts
 * import { IncompleteFrameError } from "@nianbao/framed";
 *
 * const error = new IncompleteFrameError(3, 10);
 * if (!error.message.includes("received 3 of 10 bytes")) throw new Error(error.message);
 * ```
 */
export class IncompleteFrameError extends FramedError {
  /** How many bytes of the unfinished frame arrived. */
  readonly received: number;
  /** The frame's full size on the wire, when the header had been read. */
  readonly expected: number | undefined;

  /**
   * Creates the error.
   *
   * @param received Bytes of the unfinished frame that arrived.
   * @param expected The full size of the frame on the wire, if known.
   * @param unit What the message calls a frame: `"record"` for delimited text, `"line"` for lines.
   */
  constructor(received: number, expected?: number, unit: FrameUnit = "frame") {
    super(
      "INCOMPLETE_FRAME",
      expected === undefined
        ? `stream ended mid-${unit}: ${received} bytes of an unfinished ${unit} arrived`
        : `stream ended mid-${unit}: received ${received} of ${expected} bytes`,
    );
    this.received = received;
    this.expected = expected;
  }
}

/** Why a length header was refused. */
export type InvalidLengthReason =
  | "negative"
  | "unsafe-integer"
  | "varint-too-long"
  | "negative-after-adjustment"
  | "shorter-than-strip";

/**
 * A length header that can never be valid: a negative signed length, a 64-bit length above
 * `Number.MAX_SAFE_INTEGER` (2^53 - 1), a varint longer than 10 bytes, or (with the
 * `lengthAdjustment` and `stripBytes` options of `lengthPrefix()`) a length that leaves a negative
 * number of bytes after the field, or a frame shorter than the bytes to strip.
 *
 * @example
 * ```ts
 * import { InvalidLengthError } from "@nianbao/framed";
 *
 * const error = new InvalidLengthError("negative", -1);
 * if (error.reason !== "negative") throw new Error("wrong reason");
 * ```
 */
export class InvalidLengthError extends FramedError {
  /** Which rule the header broke. */
  readonly reason: InvalidLengthReason;
  /** The decoded value (approximate above 2^53), or the varint's byte count. */
  readonly value: number;

  /**
   * Creates the error.
   *
   * @param reason Which rule the header broke.
   * @param value The decoded value; for `"varint-too-long"` the number of bytes seen; for
   * `"negative-after-adjustment"` the value plus the adjustment; for `"shorter-than-strip"` the
   * frame's size on the wire.
   */
  constructor(reason: InvalidLengthReason, value: number) {
    const detail = reason === "negative"
      ? `negative length ${value}`
      : reason === "unsafe-integer"
      ? `length ${value} is above 2^53 - 1`
      : reason === "varint-too-long"
      ? `varint length header longer than ${value} bytes`
      : reason === "negative-after-adjustment"
      ? `the length plus lengthAdjustment is ${value}, a negative number of bytes after the field`
      : `a frame of ${value} bytes is shorter than stripBytes`;
    super("INVALID_LENGTH", `invalid length header: ${detail}`);
    this.reason = reason;
    this.value = value;
  }
}

/**
 * A JSON custom header that is not valid: bad UTF-8 or JSON, not an object, or a size field that is
 * missing, negative or not an integer.
 *
 * @example
 * ```ts
 * import { InvalidHeaderError } from "@nianbao/framed";
 *
 * const error = new InvalidHeaderError("the header is not a JSON object");
 * if (error.code !== "INVALID_HEADER") throw new Error("wrong code");
 * ```
 */
export class InvalidHeaderError extends FramedError {
  /**
   * Creates the error.
   *
   * @param message What is wrong with the header.
   * @param options Standard error options, such as the JSON parser's error as `cause`.
   */
  constructor(message: string, options?: ErrorOptions) {
    super("INVALID_HEADER", message, options);
  }
}

/**
 * A write failed or stalled before every byte left. `bytesWritten` says exactly how many bytes of
 * `totalBytes` were handed to the operating system, which Python's `sendall` cannot tell you.
 *
 * @example
 * ```ts
 * import { PartialWriteError } from "@nianbao/framed";
 *
 * const error = new PartialWriteError(4096, 10_000, new Error("connection reset"));
 * if (error.bytesWritten !== 4096 || !error.message.includes("4096 of 10000")) {
 *   throw new Error(error.message);
 * }
 * ```
 */
export class PartialWriteError extends FramedError {
  /** Bytes that were written before the failure. */
  readonly bytesWritten: number;
  /** Bytes the call was asked to write. */
  readonly totalBytes: number;

  /**
   * Creates the error.
   *
   * @param bytesWritten Bytes written before the failure.
   * @param totalBytes Bytes that were to be written.
   * @param cause The underlying error, if any.
   */
  constructor(bytesWritten: number, totalBytes: number, cause?: unknown) {
    const why = cause instanceof Error
      ? `: ${cause.message}`
      : cause === undefined
      ? ""
      : `: ${cause}`;
    super("PARTIAL_WRITE", `write failed after ${bytesWritten} of ${totalBytes} bytes${why}`, {
      cause,
    });
    this.bytesWritten = bytesWritten;
    this.totalBytes = totalBytes;
  }
}

/**
 * The peer broke the ack-handshake protocol: it refused a frame (NAK), or sent a byte that is
 * neither ACK nor NAK.
 *
 * @example
 * ```ts
 * import { AckProtocolError } from "@nianbao/framed";
 *
 * const error = new AckProtocolError("refused", "the receiver refused a frame of 10 bytes");
 * if (error.reason !== "refused") throw new Error("wrong reason");
 * ```
 */
export class AckProtocolError extends FramedError {
  /** `"refused"` for a NAK, `"unexpected-byte"` for anything else that broke the protocol. */
  readonly reason: "refused" | "unexpected-byte" | "busy";

  /**
   * Creates the error.
   *
   * @param reason What went wrong.
   * @param message A human-readable explanation.
   */
  constructor(reason: "refused" | "unexpected-byte" | "busy", message: string) {
    super("ACK_PROTOCOL", message);
    this.reason = reason;
  }
}

/**
 * The connection is closed: a write or read was attempted after `close()`, or the peer went away.
 *
 * @example
 * ```ts
 * import { ConnectionClosedError } from "@nianbao/framed";
 *
 * if (new ConnectionClosedError().code !== "CONNECTION_CLOSED") throw new Error("wrong code");
 * ```
 */
export class ConnectionClosedError extends FramedError {
  /**
   * Creates the error.
   *
   * @param message Optional detail.
   * @param options Standard error options, such as `cause`.
   */
  constructor(message = "the connection is closed", options?: ErrorOptions) {
    super("CONNECTION_CLOSED", message, options);
  }
}

/**
 * No byte arrived from the peer for `idleTimeout` milliseconds, so the connection was closed.
 *
 * @example
 * ```ts
 * import { IdleTimeoutError } from "@nianbao/framed";
 *
 * if (new IdleTimeoutError(5000).idleTimeout !== 5000) throw new Error("lost the limit");
 * ```
 */
export class IdleTimeoutError extends FramedError {
  /** The idle limit in milliseconds. */
  readonly idleTimeout: number;

  /**
   * Creates the error.
   *
   * @param idleTimeout The idle limit in milliseconds.
   */
  constructor(idleTimeout: number) {
    super("IDLE_TIMEOUT", `no data from the peer for ${idleTimeout} ms`);
    this.idleTimeout = idleTimeout;
  }
}

/**
 * A record handed to the delimiter codec contains the delimiter itself (or a line handed to
 * {@linkcode lines} contains a line ending), so the receiver would split it in two. Refused on
 * encode instead of silently corrupting the stream.
 *
 * @example
 * ```ts
 * import { DelimiterInRecordError } from "@nianbao/framed";
 *
 * if (new DelimiterInRecordError(3).index !== 3) throw new Error("lost the index");
 * ```
 */
export class DelimiterInRecordError extends FramedError {
  /** Where the delimiter starts inside the record. */
  readonly index: number;

  /**
   * Creates the error.
   *
   * @param index Where the delimiter starts inside the record.
   * @param unit What the message calls a record: `"line"` for {@linkcode lines}.
   */
  constructor(index: number, unit: FrameUnit = "record") {
    super(
      "DELIMITER_IN_RECORD",
      unit === "line"
        ? `the line contains a line ending at byte ${index}`
        : `the ${unit} contains the delimiter at byte ${index}`,
    );
    this.index = index;
  }
}

/**
 * A line received by {@linkcode lines} is not valid UTF-8. Text is decoded strictly, as tokio's
 * `LinesCodec` and Python's `readline` (with `errors="strict"`) do: a replacement character would
 * silently change what the peer sent.
 *
 * @example
 * ```ts
 * import { decodeAll, InvalidUtf8Error, lines } from "@nianbao/framed";
 *
 * try {
 *   decodeAll(lines(), new Uint8Array([0x61, 0xff, 0x0a]));
 *   throw new Error("a line that is not UTF-8 must be refused");
 * } catch (error) {
 *   if (!(error instanceof InvalidUtf8Error) || error.length !== 2) throw error;
 * }
 * ```
 */
export class InvalidUtf8Error extends FramedError {
  /** The length in bytes of the line that failed to decode, without its line ending. */
  readonly length: number;

  /**
   * Creates the error.
   *
   * @param length The line's length in bytes.
   * @param options Standard error options, such as the text decoder's error as `cause`.
   */
  constructor(length: number, options?: ErrorOptions) {
    super("INVALID_UTF8", `received a line of ${length} bytes that is not valid UTF-8`, options);
    this.length = length;
  }
}

function failureMessage(operation: string, address: Address, cause: unknown): string {
  return `${operation} ${formatAddress(address)}: ${failureReason(cause)}`;
}

/**
 * A connection could not be made. The message names the address (`connect 127.0.0.1:9000:
 * connection refused`), `code` is the runtime's errno code (`"ECONNREFUSED"`, `"ENOTFOUND"`,
 * `"ETIMEDOUT"`...) or `"CONNECT_FAILED"` when it gave none, and `cause` is the runtime's own error.
 *
 * @example
 * ```ts
 * import { ConnectError, FramedError, netAddress } from "@nianbao/framed";
 *
 * const refused = Object.assign(new Error("Failed to connect"), { code: "ECONNREFUSED" });
 * const error = new ConnectError(netAddress("127.0.0.1", 9000), refused);
 * if (error.message !== "connect 127.0.0.1:9000: connection refused") throw new Error(error.message);
 * if (error.code !== "ECONNREFUSED" || error.cause !== refused) throw new Error("lost the cause");
 * if (!(error instanceof FramedError)) throw new Error("not a FramedError");
 * ```
 */
export class ConnectError extends FramedError {
  /** Where the connection was attempted. */
  readonly address: Address;

  /**
   * Creates the error.
   *
   * @param address Where the connection was attempted.
   * @param cause The runtime's error.
   */
  constructor(address: Address, cause: unknown) {
    super(causeCode(cause) ?? "CONNECT_FAILED", failureMessage("connect", address, cause), {
      cause,
    });
    this.address = address;
  }
}

/**
 * A listener could not be opened. The message names the address (`listen 127.0.0.1:9000: address
 * in use`), `code` is the runtime's errno code (`"EADDRINUSE"`, `"EACCES"`...) or
 * `"LISTEN_FAILED"` when it gave none, and `cause` is the runtime's own error.
 *
 * @example
 * ```ts
 * import { ListenError, unixAddress } from "@nianbao/framed";
 *
 * const inUse = Object.assign(new Error("Address already in use"), { code: "EADDRINUSE" });
 * const error = new ListenError(unixAddress("/run/app.sock"), inUse);
 * if (error.message !== "listen unix:/run/app.sock: address in use") throw new Error(error.message);
 * if (error.code !== "EADDRINUSE" || `${error.address}` !== "unix:/run/app.sock") {
 *   throw new Error("lost facts");
 * }
 * ```
 */
export class ListenError extends FramedError {
  /** Where the listener was to be opened. */
  readonly address: Address;

  /**
   * Creates the error.
   *
   * @param address Where the listener was to be opened.
   * @param cause The runtime's error.
   */
  constructor(address: Address, cause: unknown) {
    super(causeCode(cause) ?? "LISTEN_FAILED", failureMessage("listen", address, cause), {
      cause,
    });
    this.address = address;
  }
}

/**
 * A TLS handshake failed: the certificate did not verify (unknown issuer, wrong name, expired),
 * the peer spoke something other than TLS, or it did not finish within the handshake timeout.
 * The message names the peer's address; `cause` is the runtime's own error. On a client,
 * `connect()` rejects with it; on a server it drops only that connection (`serve()` reports it to
 * `onError` with `null` for the connection, which never existed as a framed one).
 *
 * @example
 * ```ts
 * import { netAddress, TlsError } from "@nianbao/framed";
 *
 * const cause = new Error("invalid peer certificate: UnknownIssuer");
 * const error = new TlsError(netAddress("127.0.0.1", 7443), cause);
 * if (error.message !== "TLS handshake with 127.0.0.1:7443 failed: invalid peer certificate: UnknownIssuer") {
 *   throw new Error(error.message);
 * }
 * if (error.code !== "TLS_HANDSHAKE_FAILED" || error.cause !== cause) throw new Error("lost facts");
 * ```
 */
export class TlsError extends FramedError {
  /** The peer: the server a client connected to, or the client a server accepted. */
  readonly address: Address;

  /**
   * Creates the error.
   *
   * @param address The peer's address.
   * @param cause The runtime's error.
   */
  constructor(address: Address, cause: unknown) {
    const reason = cause instanceof Error ? cause.message : String(cause);
    super(
      "TLS_HANDSHAKE_FAILED",
      `TLS handshake with ${formatAddress(address)} failed: ${reason}`,
      {
        cause,
      },
    );
    this.address = address;
  }
}

/**
 * `connect()` did not finish within its `timeout` (milliseconds): neither the TCP connection nor,
 * with `tls`, the handshake. A {@linkcode ConnectError} with code `"ETIMEDOUT"` (the errno a
 * kernel gives for the same failure), so code that retries on `ConnectError` retries on this
 * too; the message names the address and the limit.
 *
 * @example
 * ```ts
 * import { ConnectError, ConnectTimeoutError, netAddress } from "@nianbao/framed";
 *
 * const error = new ConnectTimeoutError(netAddress("127.0.0.1", 9000), 300);
 * if (error.message !== "connect 127.0.0.1:9000: timed out after 300 ms") throw new Error(error.message);
 * if (!(error instanceof ConnectError) || error.code !== "ETIMEDOUT") throw new Error("wrong type");
 * if (error.timeout !== 300) throw new Error("lost the limit");
 * ```
 */
export class ConnectTimeoutError extends ConnectError {
  /** The limit that passed, in milliseconds. */
  readonly timeout: number;

  /**
   * Creates the error.
   *
   * @param address Where the connection was attempted.
   * @param timeout The limit in milliseconds.
   */
  constructor(address: Address, timeout: number) {
    super(
      address,
      Object.assign(new Error(`not connected within ${timeout} ms`), { code: "ETIMEDOUT" }),
    );
    this.message = `${this.message} after ${timeout} ms`;
    this.timeout = timeout;
  }
}

/** Why {@linkcode ProxyProtocolError} refused a connection. */
export type ProxyProtocolErrorCode = "PROXY_PROTOCOL_INVALID" | "PROXY_PROTOCOL_TIMEOUT";

/**
 * A connection to a listener with `proxyProtocol` did not begin with a valid PROXY header
 * (`"PROXY_PROTOCOL_INVALID"`: no header, a bad signature, a v1 line too long, a v2 length over
 * the limit, a header cut short by the peer's close), or did not send all of it within
 * `proxyTimeout` (`"PROXY_PROTOCOL_TIMEOUT"`). The connection was closed; it never reached a
 * handler. `serve` reports it to `onError` with `null`; `for await` over `listen()` skips it.
 *
 * @example
 * ```ts
 * import { FramedError, netAddress, ProxyProtocolError } from "@nianbao/framed";
 *
 * const peer = netAddress("127.0.0.1", 5000);
 * const error = new ProxyProtocolError(peer, "PROXY_PROTOCOL_TIMEOUT", "no header within 200 ms");
 * if (error.message !== "PROXY protocol header from 127.0.0.1:5000 refused: no header within 200 ms") {
 *   throw new Error(error.message);
 * }
 * if (!(error instanceof FramedError) || error.code !== "PROXY_PROTOCOL_TIMEOUT") {
 *   throw new Error("wrong type");
 * }
 * ```
 */
export class ProxyProtocolError extends FramedError {
  /** The socket's peer: the proxy, or whoever connected without a header. */
  readonly address: Address;
  /** What was wrong, without the address: `"v2 version 3 is not 2"`. */
  readonly reason: string;
  /** `"PROXY_PROTOCOL_INVALID"` or `"PROXY_PROTOCOL_TIMEOUT"`. */
  override readonly code: ProxyProtocolErrorCode;

  /**
   * Creates the error.
   *
   * @param address The socket's peer.
   * @param code `"PROXY_PROTOCOL_INVALID"` or `"PROXY_PROTOCOL_TIMEOUT"`.
   * @param reason What was wrong.
   * @param options Standard error options, such as `cause` (a connection failure).
   */
  constructor(
    address: Address,
    code: ProxyProtocolErrorCode,
    reason: string,
    options?: ErrorOptions,
  ) {
    super(code, `PROXY protocol header from ${formatAddress(address)} refused: ${reason}`, options);
    this.code = code;
    this.address = address;
    this.reason = reason;
  }
}
