import { test } from "node:test";
import assert from "node:assert/strict";
import {
  decodeAll,
  encodeLength,
  FrameTooLargeError,
  InvalidLengthError,
  LENGTH_FORMATS,
  type LengthFormat,
  lengthHeaderSize,
  lengthPrefix,
  maxLengthOf,
} from "../mod.ts";
import { fromHex, hex } from "./_helpers.ts";

// Produced by Python 3.11: struct.pack(fmt, n).hex() for each format (">I" for u32be, "<i" for
// i32le, ...), n.to_bytes(3, "big" / "little").hex() for u24be / u24le (struct has no 3-byte
// integer), and protobuf-style LEB128 for varint.
const PYTHON_STRUCT_VECTORS: Record<LengthFormat, [number, string][]> = {
  u8: [[0, "00"], [1, "01"], [5, "05"], [255, "ff"]],
  u16be: [[0, "0000"], [1, "0001"], [5, "0005"], [255, "00ff"], [256, "0100"], [65535, "ffff"]],
  u16le: [[0, "0000"], [1, "0100"], [5, "0500"], [255, "ff00"], [256, "0001"], [65535, "ffff"]],
  u24be: [
    [0, "000000"],
    [1, "000001"],
    [5, "000005"],
    [255, "0000ff"],
    [256, "000100"],
    [65535, "00ffff"],
    [65536, "010000"],
    [16777215, "ffffff"],
  ],
  u24le: [
    [0, "000000"],
    [1, "010000"],
    [5, "050000"],
    [255, "ff0000"],
    [256, "000100"],
    [65535, "ffff00"],
    [65536, "000001"],
    [16777215, "ffffff"],
  ],
  u32be: [
    [0, "00000000"],
    [1, "00000001"],
    [5, "00000005"],
    [255, "000000ff"],
    [256, "00000100"],
    [65535, "0000ffff"],
    [65536, "00010000"],
    [2147483647, "7fffffff"],
    [4294967295, "ffffffff"],
  ],
  u32le: [
    [0, "00000000"],
    [1, "01000000"],
    [5, "05000000"],
    [255, "ff000000"],
    [256, "00010000"],
    [65535, "ffff0000"],
    [65536, "00000100"],
    [2147483647, "ffffff7f"],
    [4294967295, "ffffffff"],
  ],
  i32be: [
    [0, "00000000"],
    [1, "00000001"],
    [5, "00000005"],
    [255, "000000ff"],
    [256, "00000100"],
    [65535, "0000ffff"],
    [65536, "00010000"],
    [2147483647, "7fffffff"],
  ],
  i32le: [
    [0, "00000000"],
    [1, "01000000"],
    [5, "05000000"],
    [255, "ff000000"],
    [256, "00010000"],
    [65535, "ffff0000"],
    [65536, "00000100"],
    [2147483647, "ffffff7f"],
  ],
  u64be: [
    [0, "0000000000000000"],
    [1, "0000000000000001"],
    [5, "0000000000000005"],
    [255, "00000000000000ff"],
    [256, "0000000000000100"],
    [65535, "000000000000ffff"],
    [65536, "0000000000010000"],
    [2147483647, "000000007fffffff"],
    [4294967295, "00000000ffffffff"],
    [9007199254740991, "001fffffffffffff"],
  ],
  u64le: [
    [0, "0000000000000000"],
    [1, "0100000000000000"],
    [5, "0500000000000000"],
    [255, "ff00000000000000"],
    [256, "0001000000000000"],
    [65535, "ffff000000000000"],
    [65536, "0000010000000000"],
    [2147483647, "ffffff7f00000000"],
    [4294967295, "ffffffff00000000"],
    [9007199254740991, "ffffffffffff1f00"],
  ],
  varint: [
    [0, "00"],
    [1, "01"],
    [5, "05"],
    [255, "ff01"],
    [256, "8002"],
    [65535, "ffff03"],
    [65536, "808004"],
    [2147483647, "ffffffff07"],
    [4294967295, "ffffffff0f"],
    [9007199254740991, "ffffffffffffff0f"],
  ],
};

test("the table lists every format with a Python vector", () => {
  assert.deepEqual([...LENGTH_FORMATS].sort(), Object.keys(PYTHON_STRUCT_VECTORS).sort());
});

for (const format of LENGTH_FORMATS) {
  test(`encodeLength() writes ${format} exactly as Python struct does`, () => {
    for (const [value, expected] of PYTHON_STRUCT_VECTORS[format]) {
      assert.equal(hex(encodeLength(format, value)), expected, `${format} ${value}`);
      assert.equal(lengthHeaderSize(format, value), expected.length / 2);
    }
  });

  test(`the decoder reads Python's ${format} headers back`, () => {
    // Only lengths up to 300 carry a real body here; larger ones are checked against the limit.
    const codec = lengthPrefix({ lengthFormat: format, maxFrameLength: maxLengthOf(format) });
    for (const [value, header] of PYTHON_STRUCT_VECTORS[format].filter(([v]) => v <= 300)) {
      const body = new Uint8Array(value).fill(0x5a);
      const frames = decodeAll(codec, new Uint8Array([...fromHex(header), ...body]));
      assert.deepEqual(frames, [body]);
    }
  });
}

test("the largest length of a format encodes, and one more is refused", () => {
  for (const format of LENGTH_FORMATS) {
    const max = maxLengthOf(format);
    assert.doesNotThrow(() => encodeLength(format, max));
    if (max < Number.MAX_SAFE_INTEGER) {
      assert.throws(() => encodeLength(format, max + 1), FrameTooLargeError, format);
    }
  }
});

test("encodeLength() refuses negative and fractional lengths", () => {
  assert.throws(() => encodeLength("u32be", -1), FrameTooLargeError);
  assert.throws(() => encodeLength("varint", 1.5), FrameTooLargeError);
});

test("a negative i32 length is refused with its value", () => {
  for (const [format, header] of [["i32le", "ffffffff"], ["i32be", "80000000"]] as const) {
    const codec = lengthPrefix({ lengthFormat: format });
    assert.throws(
      () => decodeAll(codec, fromHex(header)),
      (error: unknown) =>
        error instanceof InvalidLengthError && error.reason === "negative" && error.value < 0,
    );
  }
});

test("a u64 length above 2^53 - 1 is refused", () => {
  for (
    const [format, header] of [["u64be", "0020000000000000"], [
      "u64le",
      "ffffffffffffffff",
    ]] as const
  ) {
    const codec = lengthPrefix({ lengthFormat: format, maxFrameLength: Number.MAX_SAFE_INTEGER });
    assert.throws(
      () => decodeAll(codec, fromHex(header)),
      (error: unknown) => error instanceof InvalidLengthError && error.reason === "unsafe-integer",
    );
  }
});

test("a varint longer than 10 bytes is refused, even when its value is small", () => {
  const codec = lengthPrefix({ lengthFormat: "varint" });
  const overlong = fromHex("80808080808080808080" + "00");
  assert.throws(
    () => decodeAll(codec, overlong),
    (error: unknown) => error instanceof InvalidLengthError && error.reason === "varint-too-long",
  );
});

test("a varint that is too large is refused before its last byte arrives", () => {
  const decoder = lengthPrefix({ lengthFormat: "varint", maxFrameLength: 1000 }).createDecoder();
  // 0xff 0xff already announces at least 16383 bytes: no need to wait for the rest.
  assert.throws(() => decoder.push(fromHex("ffff"), () => {}), FrameTooLargeError);
});
