// Internal: the PROXY protocol header parser, sans I/O. It is given every byte received so far
// (at most the longest header the accepted versions allow) and says: need more, done (with the
// header's length: what follows it is the connection's data), or invalid (with why). A wrong
// first byte is refused at once, so a client that speaks the framed protocol directly is refused
// without waiting for the timeout.
//
// The format, from HAProxy's doc/proxy-protocol.txt (checked against its examples and against
// rama-haproxy's and actix-proxy-protocol's parsers, found with the `search` tool):
// - v1: one ASCII line "PROXY TCP4|TCP6|UNKNOWN SRC DST SPORT DPORT\r\n", single spaces, at most
//   107 bytes with the CRLF; after UNKNOWN the rest of the line is ignored.
// - v2: the 12-byte signature \r\n\r\n\0\r\nQUIT\n; a byte with the version (high nibble, 2) and
//   command (0 LOCAL, 1 PROXY); a byte with the family (0 UNSPEC, 1 INET, 2 INET6, 3 UNIX) and
//   protocol (0 UNSPEC, 1 STREAM, 2 DGRAM); a big-endian u16 length of what follows: addresses
//   (12, 36 or 216 bytes) then TLVs (type u8, length u16be, value). Other nibbles are invalid.
//   LOCAL discards the whole block: the connection's own endpoints are used.

import type { NetAddress } from "./byte_stream.ts";
import { netAddress } from "./net_address.ts";
import {
  PROXY_V1_MAX_LENGTH,
  PROXY_V2_MAX_LENGTH,
  type ProxyProtocolVersion,
} from "./proxy_protocol.ts";

/** What a header says, before the connection's own address is added. */
export interface ParsedProxyHeader {
  version: 1 | 2;
  command: "PROXY" | "LOCAL";
  source: NetAddress | null;
  destination: NetAddress | null;
}

/** One step of parsing: `length` is the header's size in bytes. */
export type ProxyParse =
  | { status: "more" }
  | { status: "done"; header: ParsedProxyHeader; length: number }
  | { status: "invalid"; reason: string };

const V1_PREFIX = new TextEncoder().encode("PROXY ");
const V2_SIGNATURE = new Uint8Array([
  0x0d,
  0x0a,
  0x0d,
  0x0a,
  0x00,
  0x0d,
  0x0a,
  0x51,
  0x55,
  0x49,
  0x54,
  0x0a,
]);
const V2_FIXED = 16;
const CR = 0x0d;
const LF = 0x0a;

/** The most bytes a header of the accepted versions can take: the parser never needs more. */
export function maxProxyHeaderLength(accept: ProxyProtocolVersion): number {
  return accept === "v1" ? PROXY_V1_MAX_LENGTH : V2_FIXED + PROXY_V2_MAX_LENGTH;
}

/** Parses the start of a connection: `bytes` is everything received so far. */
export function parseProxyHeader(bytes: Uint8Array, accept: ProxyProtocolVersion): ProxyParse {
  if (bytes.length === 0) return { status: "more" };
  const v1 = accept !== "v2" && agrees(bytes, V1_PREFIX);
  const v2 = accept !== "v1" && agrees(bytes, V2_SIGNATURE);
  if (v1) return parseV1(bytes);
  if (v2) return parseV2(bytes);
  const expected = accept === "any" ? "" : `${accept} `;
  return { status: "invalid", reason: `no ${expected}PROXY header (it began with ${hex(bytes)})` };
}

// Whether what has arrived so far is consistent with `prefix`.
function agrees(bytes: Uint8Array, prefix: Uint8Array): boolean {
  const n = Math.min(bytes.length, prefix.length);
  for (let i = 0; i < n; i++) if (bytes[i] !== prefix[i]) return false;
  return true;
}

function hex(bytes: ArrayLike<number>): string {
  const shown = Math.min(bytes.length, 8);
  return Array.from({ length: shown }, (_, i) => bytes[i]!.toString(16).padStart(2, "0")).join(" ");
}

// ── v1 ──────────────────────────────────────────────────────────────────────────────────────

function parseV1(bytes: Uint8Array): ProxyParse {
  const limit = Math.min(bytes.length, PROXY_V1_MAX_LENGTH);
  let end = -1;
  for (let i = 0; i < limit; i++) {
    const byte = bytes[i]!;
    if (byte === CR) {
      // The line with its CRLF may be 107 bytes at most, however it arrives (one chunk or many).
      if (i + 2 > PROXY_V1_MAX_LENGTH) {
        return invalid(`v1 line longer than ${PROXY_V1_MAX_LENGTH} bytes`);
      }
      if (i + 1 >= bytes.length) return { status: "more" };
      if (bytes[i + 1] !== LF) return invalid("v1 line has a CR without LF");
      end = i;
      break;
    }
    // Printable ASCII only: a LF alone, a NUL or binary means this is not a v1 line.
    if (byte < 0x20 || byte > 0x7e) return invalid(`v1 line has the byte 0x${hex([byte])}`);
  }
  if (end === -1) {
    if (bytes.length >= PROXY_V1_MAX_LENGTH) {
      return invalid(`v1 line longer than ${PROXY_V1_MAX_LENGTH} bytes without CRLF`);
    }
    return { status: "more" };
  }
  const line = new TextDecoder().decode(bytes.subarray(0, end));
  const fields = line.split(" ");
  const length = end + 2;
  const protocol = fields[1];
  if (protocol === "UNKNOWN") {
    return { status: "done", header: local(1, "PROXY"), length };
  }
  if (protocol !== "TCP4" && protocol !== "TCP6") {
    return invalid(`v1 protocol ${JSON.stringify(protocol)} is not TCP4, TCP6 or UNKNOWN`);
  }
  if (fields.length !== 6) return invalid(`v1 line has ${fields.length} fields, not 6`);
  const [, , sourceText, destinationText, sourcePortText, destinationPortText] = fields as [
    string,
    string,
    string,
    string,
    string,
    string,
  ];
  const parse = protocol === "TCP4" ? ipv4Text : ipv6Text;
  const sourceHost = parse(sourceText);
  const destinationHost = parse(destinationText);
  const sourcePort = port(sourcePortText);
  const destinationPort = port(destinationPortText);
  if (sourceHost === null) return invalid(`v1 source ${sourceText} is not ${protocol}`);
  if (destinationHost === null) {
    return invalid(`v1 destination ${destinationText} is not ${protocol}`);
  }
  if (sourcePort === null) return invalid(`v1 source port ${sourcePortText} is not a port`);
  if (destinationPort === null) {
    return invalid(`v1 destination port ${destinationPortText} is not a port`);
  }
  return {
    status: "done",
    header: {
      version: 1,
      command: "PROXY",
      source: netAddress(sourceHost, sourcePort),
      destination: netAddress(destinationHost, destinationPort),
    },
    length,
  };
}

function port(text: string): number | null {
  if (!/^[0-9]{1,5}$/.test(text)) return null;
  const value = Number(text);
  return value <= 65535 ? value : null;
}

// A dotted quad, normalized (no leading zeros kept).
function ipv4Text(text: string): string | null {
  const parts = text.split(".");
  if (parts.length !== 4) return null;
  const octets: number[] = [];
  for (const part of parts) {
    if (!/^[0-9]{1,3}$/.test(part) || Number(part) > 255) return null;
    octets.push(Number(part));
  }
  return octets.join(".");
}

// An RFC 4291 text address (with "::" and a dotted IPv4 tail allowed), in RFC 5952's form.
function ipv6Text(text: string): string | null {
  const groups = ipv6Groups(text);
  return groups === null ? null : formatIpv6(groups);
}

function ipv6Groups(text: string): number[] | null {
  if (text.length > 45) return null;
  const halves = text.split("::");
  if (halves.length > 2) return null;
  const parse = (half: string): number[] | null => {
    if (half === "") return [];
    const groups: number[] = [];
    const parts = half.split(":");
    for (let i = 0; i < parts.length; i++) {
      const part = parts[i]!;
      if (i === parts.length - 1 && part.includes(".")) {
        const v4 = ipv4Text(part);
        if (v4 === null) return null;
        const [a, b, c, d] = v4.split(".").map(Number) as [number, number, number, number];
        groups.push((a << 8) | b, (c << 8) | d);
      } else if (/^[0-9a-fA-F]{1,4}$/.test(part)) {
        groups.push(parseInt(part, 16));
      } else {
        return null;
      }
    }
    return groups;
  };
  const head = parse(halves[0]!);
  const tail = halves.length === 2 ? parse(halves[1]!) : [];
  if (head === null || tail === null) return null;
  if (halves.length === 1) return head.length === 8 ? head : null;
  const missing = 8 - head.length - tail.length;
  if (missing < 1) return null;
  return [...head, ...new Array<number>(missing).fill(0), ...tail];
}

/** Eight 16-bit groups in RFC 5952's form: lowercase, the longest run of 2+ zero groups as "::". */
export function formatIpv6(groups: readonly number[]): string {
  // IPv4-mapped addresses print with a dotted tail, as the runtimes print them (::ffff:1.2.3.4).
  if (groups.slice(0, 5).every((g) => g === 0) && groups[5] === 0xffff) {
    const [c, d] = [groups[6]!, groups[7]!];
    return `::ffff:${c >> 8}.${c & 0xff}.${d >> 8}.${d & 0xff}`;
  }
  let bestAt = -1;
  let bestLength = 1;
  for (let i = 0; i < 8;) {
    if (groups[i] !== 0) {
      i++;
      continue;
    }
    let j = i;
    while (j < 8 && groups[j] === 0) j++;
    if (j - i > bestLength) [bestAt, bestLength] = [i, j - i];
    i = j;
  }
  const text = (from: number, to: number) =>
    groups.slice(from, to).map((g) => g.toString(16)).join(":");
  if (bestAt === -1) return text(0, 8);
  return `${text(0, bestAt)}::${text(bestAt + bestLength, 8)}`;
}

// ── v2 ──────────────────────────────────────────────────────────────────────────────────────

function parseV2(bytes: Uint8Array): ProxyParse {
  if (bytes.length < V2_FIXED) return { status: "more" };
  const versionCommand = bytes[12]!;
  const familyProtocol = bytes[13]!;
  const blockLength = (bytes[14]! << 8) | bytes[15]!;
  if (versionCommand >> 4 !== 2) return invalid(`v2 version ${versionCommand >> 4} is not 2`);
  const commandBits = versionCommand & 0x0f;
  if (commandBits > 1) return invalid(`v2 command ${commandBits} is neither LOCAL nor PROXY`);
  const family = familyProtocol >> 4;
  const protocol = familyProtocol & 0x0f;
  if (family > 3) return invalid(`v2 address family ${family} is unknown`);
  if (protocol > 2) return invalid(`v2 transport protocol ${protocol} is unknown`);
  if (blockLength > PROXY_V2_MAX_LENGTH) {
    return invalid(
      `v2 header announces ${blockLength} bytes of addresses and TLVs, ` +
        `over the limit of ${PROXY_V2_MAX_LENGTH}`,
    );
  }
  const length = V2_FIXED + blockLength;
  if (bytes.length < length) return { status: "more" };
  // LOCAL: the proxy's own connection (a health check); the block is discarded unread.
  if (commandBits === 0) return { status: "done", header: local(2, "LOCAL"), length };
  const block = bytes.subarray(V2_FIXED, length);
  const addressLength = [0, 12, 36, 216][family]!;
  if (blockLength < addressLength) {
    return invalid(`v2 address block of ${blockLength} bytes is shorter than ${addressLength}`);
  }
  const tlvError = checkTlvs(block.subarray(addressLength));
  if (tlvError !== null) return invalid(tlvError);
  if (family === 0 || family === 3) return { status: "done", header: local(2, "PROXY"), length };
  const transport = protocol === 2 ? "udp" : "tcp";
  const view = new DataView(block.buffer, block.byteOffset, block.byteLength);
  const size = family === 1 ? 4 : 16;
  const host = (at: number) =>
    family === 1
      ? Array.from(block.subarray(at, at + 4)).join(".")
      : formatIpv6(Array.from({ length: 8 }, (_, i) => view.getUint16(at + 2 * i)));
  return {
    status: "done",
    header: {
      version: 2,
      command: "PROXY",
      source: netAddress(host(0), view.getUint16(2 * size), transport),
      destination: netAddress(host(size), view.getUint16(2 * size + 2), transport),
    },
    length,
  };
}

// TLVs are skipped, but each must fit in the announced block: a header that lies about them is
// refused rather than half-read.
function checkTlvs(tlvs: Uint8Array): string | null {
  let at = 0;
  while (at < tlvs.length) {
    if (at + 3 > tlvs.length) return `v2 TLV at offset ${at} is cut short`;
    const valueLength = (tlvs[at + 1]! << 8) | tlvs[at + 2]!;
    if (at + 3 + valueLength > tlvs.length) {
      return `v2 TLV of type 0x${hex([tlvs[at]!])} announces ${valueLength} bytes past the header`;
    }
    at += 3 + valueLength;
  }
  return null;
}

function local(version: 1 | 2, command: "PROXY" | "LOCAL"): ParsedProxyHeader {
  return { version, command, source: null, destination: null };
}

function invalid(reason: string): ProxyParse {
  return { status: "invalid", reason };
}
