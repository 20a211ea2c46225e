import { test } from "node:test";
import assert from "node:assert/strict";
import {
  decodeAll,
  type Decoder,
  FrameTooLargeError,
  IncompleteFrameError,
  LENGTH_FORMATS,
  lengthPrefix,
} from "../mod.ts";
import { FIRST_CAPACITY, grownCapacity, PartialFrame } from "../lib/_partial_frame.ts";
import {
  checkAllChunkings,
  concat,
  copyBytes,
  cutsAround,
  decodeWithCuts,
  fromHex,
  patterned,
  reservedBytes,
  sameBytes,
  seededRandom,
  utf8,
} from "./_helpers.ts";

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

const KiB = 1024;
const MiB = 1024 * KiB;

/** Pushes `wire` cut at `cuts`, copying each frame inside onFrame (valid in every buffer mode). */
function decodeCopying(decoder: Decoder<Uint8Array>, wire: Uint8Array, cuts: number[]) {
  const frames: Uint8Array[] = [];
  let start = 0;
  for (const end of [...cuts, wire.length]) {
    decoder.push(wire.slice(start, end), (frame) => frames.push(frame.slice()));
    start = end;
  }
  decoder.finish();
  return frames;
}

test("a header announcing 16 MiB followed by 1 KiB reserves 4 KiB, not 16 MiB", () => {
  for (const reuseFrameBuffer of [false, true]) {
    const decoder = lengthPrefix().createDecoder({ reuseFrameBuffer });
    decoder.push(concat([fromHex("01000000"), new Uint8Array(KiB)]), () => {});
    assert.equal(decoder.bufferedBytes, 4 + KiB);
    assert.equal(reservedBytes(decoder), FIRST_CAPACITY, `reuseFrameBuffer: ${reuseFrameBuffer}`);
    assert.equal(FIRST_CAPACITY, 4 * KiB);
  }
});

test("a partial frame's buffer stays within twice what arrived, and the frame owns exactly its bytes", () => {
  const body = patterned(4 * MiB, 3);
  const wire = concat([fromHex("00400000"), body]);
  const decoder = lengthPrefix().createDecoder();
  const frames: Uint8Array[] = [];
  const reservations = new Set<number>();
  // Pushes of 1 B to 16 KiB, like a slow peer's packets.
  const random = seededRandom(16);
  for (let at = 0; at < wire.length;) {
    const size = 1 + Math.floor(random() * 16 * KiB);
    decoder.push(wire.subarray(at, at + size), (frame) => frames.push(frame));
    at += size;
    if (frames.length > 0) break;
    const arrived = decoder.bufferedBytes - 4;
    const reserved = reservedBytes(decoder);
    assert.ok(
      reserved >= arrived && reserved <= Math.max(2 * arrived, FIRST_CAPACITY),
      `${reserved} reserved for ${arrived} received`,
    );
    reservations.add(reserved);
  }
  // Growth is geometric: one buffer per doubling, not one per push.
  assert.ok(
    reservations.size <= Math.log2((4 * MiB) / FIRST_CAPACITY) + 2,
    `${reservations.size} buffers`,
  );
  assert.equal(frames.length, 1);
  assert.equal(frames[0]!.byteLength, frames[0]!.buffer.byteLength, "no slack kept with the frame");
  assert.ok(sameBytes(frames[0]!, body), "the frame is byte-exact");
  assert.equal(reservedBytes(decoder), 0, "nothing stays reserved between frames");
});

test("grownCapacity() holds what arrived, at least 4 KiB, doubles, and never passes the length", () => {
  assert.equal(grownCapacity(0, KiB, 16 * MiB), 4 * KiB);
  assert.equal(grownCapacity(0, 100, 100), 100, "a small frame gets exactly its length");
  assert.equal(grownCapacity(0, 300 * KiB, 16 * MiB), 300 * KiB, "a big first read fits at once");
  assert.equal(grownCapacity(4 * KiB, 4 * KiB + 1, 16 * MiB), 8 * KiB, "doubles");
  assert.equal(grownCapacity(4 * KiB, 100 * KiB, 16 * MiB), 100 * KiB, "or jumps to a big read");
  assert.equal(grownCapacity(8 * MiB, 8 * MiB + 1, 9 * MiB), 9 * MiB, "capped at the length");
  assert.equal(grownCapacity(4, 5, 1000, 4), 8, "the first capacity is a parameter");
});

test("PartialFrame assembles every frame byte-exact at every split point while it grows", () => {
  // A 4-byte first buffer makes a 40-byte frame grow four times: every growth step is exercised.
  for (const reuse of [false, true]) {
    const partial = new PartialFrame(reuse, 4);
    for (let length = 0; length <= 40; length++) {
      const bytes = patterned(length, length);
      for (let split = 0; split <= length; split++) {
        partial.begin(length);
        partial.fill(bytes.subarray(0, split), 0);
        assert.equal(partial.filled, split);
        if (!reuse) assert.ok(partial.capacity <= Math.min(length, Math.max(2 * split, 4)));
        partial.fill(bytes, split);
        assert.ok(partial.complete);
        assert.deepEqual(partial.take().slice(), bytes, `length ${length}, split at ${split}`);
      }
    }
  }
});

test("frames larger than the first buffer decode byte-exact when cut around every growth step", () => {
  const codec = lengthPrefix();
  const sizes = [FIRST_CAPACITY - 1, FIRST_CAPACITY + 1, 64 * KiB + 3, 200 * KiB];
  const frames = [utf8("a"), ...sizes.map((size, i) => patterned(size, i)), utf8("z")];
  const wire = concat(frames.map((f) => codec.encode(f)));
  // Every split point within 6 bytes of each frame start and of each doubling inside a frame.
  const marks: number[] = [];
  let start = 0;
  for (const frame of frames) {
    for (const at of [0, 4, ...[1, 2, 4, 8, 16, 32].map((k) => 4 + k * FIRST_CAPACITY)]) {
      if (at <= 4 + frame.length) marks.push(start + at);
    }
    start += 4 + frame.length;
  }
  const chunkings = cutsAround(marks, wire.length, 64, 200);
  for (const cuts of chunkings) {
    const what = `cut at ${cuts.slice(0, 3).join(", ")}${cuts.length > 3 ? ", …" : ""}`;
    // Owned frames must stay intact after later pushes; decodeWithCuts checks they alias nothing.
    const owned = decodeWithCuts(codec.createDecoder(), wire, cuts, copyBytes);
    const reused = decodeCopying(codec.createDecoder({ reuseFrameBuffer: true }), wire, cuts);
    for (const [mode, decoded] of [["owned", owned], ["reused", reused]] as const) {
      assert.equal(decoded.length, frames.length, `${mode}: ${what}`);
      decoded.forEach((frame, i) =>
        assert.ok(sameBytes(frame, frames[i]!), `${mode}: frame ${i} differs, ${what}`)
      );
    }
  }
});
