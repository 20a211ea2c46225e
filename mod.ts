/**
 * framed: length-prefixed, delimited and JSON-header framing for TCP sockets, with the same code in
 * Deno, Bun and Node.
 *
 * TCP is a byte stream: two quick writes can arrive as one read and one large message can arrive in
 * pieces (the "sticky packet" problem), and a single write may send only part of a buffer. The
 * codecs here turn bytes into frames and back without touching a socket; `sendAll` writes every
 * byte, in order.
 *
 * @example Frames survive any split of the byte stream
 * ```ts
 * import { lengthPrefix } from "@nianbao/framed";
 *
 * const codec = lengthPrefix();
 * const text = new TextEncoder();
 * const wire = new Uint8Array([...codec.encode(text.encode("hello")), ...codec.encode(text.encode("world"))]);
 *
 * const decoder = codec.createDecoder();
 * const received: string[] = [];
 * // The two messages arrive glued together and cut in odd places; the decoder does not care.
 * for (const piece of [wire.subarray(0, 3), wire.subarray(3, 11), wire.subarray(11)]) {
 *   decoder.push(piece, (frame) => received.push(new TextDecoder().decode(frame)));
 * }
 * decoder.finish();
 * if (received.join(",") !== "hello,world") throw new Error(`got ${received}`);
 * ```
 *
 * @module
 */

export * from "./lib/errors.ts";
export * from "./lib/length_format.ts";
export * from "./lib/codec.ts";
export * from "./lib/length_prefix.ts";
export * from "./lib/delimiter.ts";
export * from "./lib/lines.ts";
export * from "./lib/json_header.ts";
export * from "./lib/web_streams.ts";
export * from "./lib/ack_handshake.ts";
export * from "./lib/send.ts";
export * from "./lib/byte_stream.ts";
export * from "./lib/net_address.ts";
export * from "./lib/tls.ts";
export * from "./lib/proxy_protocol.ts";
export * from "./lib/memory_stream.ts";
export * from "./lib/frame_reader.ts";
export * from "./lib/frame_writer.ts";
export * from "./lib/framed_conn.ts";
export * from "./lib/datagram.ts";
export * from "./lib/adapter.ts";
export { detectRuntime, type RuntimeName, type SocketApi } from "./lib/runtime.ts";
export * from "./lib/connect.ts";
export * from "./lib/listen.ts";
export * from "./lib/serve.ts";
export * from "./lib/bind_datagram.ts";
