import { test } from "node:test";
import assert from "node:assert/strict";
import {
  decodeAll,
  delimiter,
  DelimiterInRecordError,
  FrameTooLargeError,
  IncompleteFrameError,
} from "../mod.ts";
import { checkAllChunkings, copyBytes, utf8 } from "./_helpers.ts";

const records = (...texts: string[]) => texts.map(utf8);

for (
  const [name, delim] of [["\\n", "\n"], ["\\r\\n", "\r\n"], ["a 4-byte marker", "<=>|"]] as const
) {
  test(`delimiter(${name}) decodes the same records however the stream is cut`, () => {
    checkAllChunkings(
      delimiter({ delimiter: delim }),
      records("", "hello", "world", "", "a", "<", "<=", "<=>", "\r", "x".repeat(150), "end"),
      { snapshot: copyBytes, randomRuns: 10_000, seed: 31 + delim.length },
    );
  });
}

test("a delimiter split across three chunks is still found", () => {
  const decoder = delimiter({ delimiter: "<=>|" }).createDecoder();
  const got: string[] = [];
  for (const piece of ["ab<", "=", ">|cd<=>|"]) {
    decoder.push(utf8(piece), (r) => got.push(new TextDecoder().decode(r)));
  }
  decoder.finish();
  assert.deepEqual(got, ["ab", "cd"]);
});

test("a partial delimiter that turns out to be data stays in the record", () => {
  const decoder = delimiter({ delimiter: "\r\n" }).createDecoder();
  const got: string[] = [];
  for (const piece of ["a\r", "b\r\n"]) {
    decoder.push(utf8(piece), (r) => got.push(new TextDecoder().decode(r)));
  }
  assert.deepEqual(got, ["a\rb"]);
});

test("records longer than maxRecordLength are refused while buffering, not after", () => {
  const decoder = delimiter({ maxRecordLength: 8 }).createDecoder();
  decoder.push(utf8("12345678"), () => {});
  assert.equal(decoder.bufferedBytes, 8);
  assert.throws(
    () => decoder.push(utf8("9"), () => {}),
    (error: unknown) =>
      error instanceof FrameTooLargeError && error.maxFrameLength === 8 && error.length === 9,
  );
});

test("a record of exactly maxRecordLength is accepted, with a multi-byte delimiter split after it", () => {
  const decoder = delimiter({ delimiter: "\r\n", maxRecordLength: 4 }).createDecoder();
  const got: Uint8Array[] = [];
  decoder.push(utf8("abcd\r"), (r) => got.push(r));
  decoder.push(utf8("\n"), (r) => got.push(r));
  assert.deepEqual(got, records("abcd"));
});

test("an oversize record inside one chunk is refused", () => {
  assert.throws(
    () => decodeAll(delimiter({ maxRecordLength: 3 }), utf8("abcd\n")),
    FrameTooLargeError,
  );
});

test("encoding refuses a record that contains the delimiter or is too long", () => {
  const codec = delimiter({ delimiter: "\r\n", maxRecordLength: 10 });
  assert.throws(
    () => codec.encode(utf8("a\r\nb")),
    (error: unknown) => error instanceof DelimiterInRecordError && error.index === 1,
  );
  assert.throws(() => codec.encode(new Uint8Array(11)), FrameTooLargeError);
  assert.deepEqual(codec.encode(utf8("a\rb")), utf8("a\rb\r\n"));
});

test("a stream that ends without the final delimiter ends mid-frame", () => {
  assert.throws(
    () => decodeAll(delimiter(), utf8("one\ntwo")),
    (error: unknown) => error instanceof IncompleteFrameError && error.received === 3,
  );
});

test("an empty delimiter is refused up front", () => {
  assert.throws(() => delimiter({ delimiter: "" }), RangeError);
});

/** The decoder's internal count of bytes allocated for an unfinished record. */
function reservedBytes(decoder: object): number {
  const reserved = (decoder as { reservedBytes?: unknown }).reservedBytes;
  assert.equal(typeof reserved, "number", "the decoder reports the bytes it reserved");
  return reserved as number;
}

test("a long record held across chunks grows with what arrives and is let go once complete", () => {
  const decoder = delimiter().createDecoder();
  const got: Uint8Array[] = [];
  const line = new Uint8Array(60 * 1024).fill(0x61);
  for (let at = 0; at < line.length; at += 1000) {
    decoder.push(line.subarray(at, at + 1000), (r) => got.push(r));
    const held = decoder.bufferedBytes;
    assert.ok(reservedBytes(decoder) <= Math.max(2 * held, 4096), `${held} held`);
  }
  decoder.push(utf8("\nshort"), (r) => got.push(r));
  assert.equal(got.length, 1);
  assert.equal(got[0]!.length, line.length);
  assert.ok(got[0]!.every((b) => b === 0x61));
  assert.equal(decoder.bufferedBytes, 5);
  assert.ok(reservedBytes(decoder) <= 4096, "an idle decoder keeps at most a small buffer");
});
