import { test } from "node:test";
import assert from "node:assert/strict";
import {
  decodeAll,
  FrameTooLargeError,
  IncompleteFrameError,
  LENGTH_FORMATS,
  lengthPrefix,
} from "../mod.ts";
import { checkAllChunkings, copyBytes, fromHex, seededRandom, utf8 } from "./_helpers.ts";

const sampleFrames = (): Uint8Array[] => {
  const random = seededRandom(7);
  const frames = [new Uint8Array(0), utf8("hello"), utf8("world"), new Uint8Array(0)];
  for (let i = 0; i < 8; i++) {
    frames.push(
      Uint8Array.from({ length: Math.floor(random() * 40) }, () => Math.floor(random() * 256)),
    );
  }
  frames.push(new Uint8Array(200).fill(0x42), utf8("end"));
  return frames;
};

for (const format of LENGTH_FORMATS) {
  test(`length-prefix(${format}) decodes the same frames however the stream is cut`, () => {
    const frames = format === "u8" ? sampleFrames().filter((f) => f.length <= 255) : sampleFrames();
    checkAllChunkings(lengthPrefix({ lengthFormat: format }), frames, {
      snapshot: copyBytes,
      randomRuns: format === "u32be" ? 10_000 : 2_000,
      seed: 1000 + LENGTH_FORMATS.indexOf(format),
    });
  });
}

test("length-prefix(varint) survives 10,000 random chunkings too", () => {
  checkAllChunkings(lengthPrefix({ lengthFormat: "varint" }), sampleFrames(), {
    snapshot: copyBytes,
    randomRuns: 10_000,
    seed: 99,
  });
});

test("many frames in one chunk come out in order, as views of that chunk", () => {
  const codec = lengthPrefix({ lengthFormat: "u16le" });
  const frames = Array.from({ length: 1000 }, (_, i) => utf8(`message ${i}`));
  const wire = new Uint8Array(frames.reduce((n, f) => n + f.length + 2, 0));
  let at = 0;
  for (const f of frames) {
    wire.set(codec.encode(f), at);
    at += f.length + 2;
  }
  const received: Uint8Array[] = [];
  const views = codec.createDecoder().push(wire, (f) => received.push(f));
  assert.equal(views, true);
  assert.deepEqual(received, frames);
  assert.ok(received.every((f) => f.buffer === wire.buffer), "frames inside one chunk are views");
});

test("a frame that spans chunks is a fresh copy that owns its buffer", () => {
  const codec = lengthPrefix();
  const wire = codec.encode(utf8("split me"));
  const decoder = codec.createDecoder();
  const received: Uint8Array[] = [];
  assert.equal(decoder.push(wire.slice(0, 6), (f) => received.push(f)), false);
  const tail = wire.slice(6);
  assert.equal(decoder.push(tail, (f) => received.push(f)), false);
  assert.equal(received.length, 1);
  assert.notEqual(received[0]!.buffer, tail.buffer);
  assert.equal(received[0]!.byteLength, received[0]!.buffer.byteLength);
});

test("an empty frame is a real frame and round-trips", () => {
  const codec = lengthPrefix();
  assert.deepEqual(codec.encode(new Uint8Array(0)), new Uint8Array(4));
  assert.deepEqual(decodeAll(codec, new Uint8Array(8)), [new Uint8Array(0), new Uint8Array(0)]);
});

test("an oversize length is refused from the header alone, before any body byte arrives", () => {
  const decoder = lengthPrefix({ maxFrameLength: 1024 }).createDecoder();
  assert.equal(decoder.push(fromHex("000004"), () => {}), false);
  assert.throws(
    () => decoder.push(fromHex("01"), () => {}),
    (error: unknown) =>
      error instanceof FrameTooLargeError && error.length === 1025 &&
      error.maxFrameLength === 1024 &&
      error.direction === "decode",
  );
  assert.equal(decoder.bufferedBytes, 0, "nothing was buffered for the body");
});

test("the default limit of 16 MiB refuses a 4 GiB announcement without allocating it", () => {
  const decoder = lengthPrefix().createDecoder();
  assert.throws(
    () => decoder.push(fromHex("ffffffff"), () => {}),
    (error: unknown) =>
      error instanceof FrameTooLargeError && error.maxFrameLength === 16 * 1024 * 1024,
  );
});

test("encoding a frame over the limit is refused", () => {
  const codec = lengthPrefix({ maxFrameLength: 10 });
  assert.throws(
    () => codec.encode(new Uint8Array(11)),
    (error: unknown) =>
      error instanceof FrameTooLargeError && error.direction === "encode" && error.length === 11,
  );
  assert.throws(
    () => lengthPrefix({ lengthFormat: "u8" }).encode(new Uint8Array(256)),
    FrameTooLargeError,
  );
});

test("end of stream mid-body says how many bytes of how many arrived", () => {
  const decoder = lengthPrefix().createDecoder();
  decoder.push(fromHex("0000000a010203"), () => {});
  assert.throws(
    () => decoder.finish(),
    (error: unknown) =>
      error instanceof IncompleteFrameError && error.received === 7 && error.expected === 14 &&
      /received 7 of 14 bytes/.test(error.message),
  );
});

test("end of stream mid-header is an incomplete frame too", () => {
  const decoder = lengthPrefix().createDecoder();
  decoder.push(fromHex("0000"), () => {});
  assert.throws(
    () => decoder.finish(),
    (error: unknown) =>
      error instanceof IncompleteFrameError && error.received === 2 && error.expected === undefined,
  );
});

test("a clean end of stream between frames is not an error", () => {
  const decoder = lengthPrefix().createDecoder();
  decoder.push(fromHex("00000001ff"), () => {});
  assert.doesNotThrow(() => decoder.finish());
});

test("a decoder that failed stays failed and never resynchronizes", () => {
  const decoder = lengthPrefix({ maxFrameLength: 4 }).createDecoder();
  assert.throws(() => decoder.push(fromHex("00000005"), () => {}), FrameTooLargeError);
  assert.throws(() => decoder.push(fromHex("0000000161"), () => {}), FrameTooLargeError);
});

test("an unknown length format or a bad limit is a TypeError or RangeError up front", () => {
  // @ts-expect-error: testing a value that the types already forbid
  assert.throws(() => lengthPrefix({ lengthFormat: "u24" }), TypeError);
  assert.throws(() => lengthPrefix({ maxFrameLength: -1 }), RangeError);
});

test("with reuseFrameBuffer, frames that span chunks are assembled in one reused buffer", () => {
  const codec = lengthPrefix();
  const decoder = codec.createDecoder({ reuseFrameBuffer: true });
  const wire = new Uint8Array([...codec.encode(utf8("first")), ...codec.encode(utf8("second"))]);
  const buffers: ArrayBufferLike[] = [];
  const texts: string[] = [];
  for (const piece of [wire.slice(0, 6), wire.slice(6, 14), wire.slice(14)]) {
    decoder.push(piece, (frame) => {
      buffers.push(frame.buffer);
      texts.push(new TextDecoder().decode(frame));
    });
  }
  assert.deepEqual(texts, ["first", "second"]);
  assert.equal(buffers[0], buffers[1], "no allocation per spanning frame");
});
