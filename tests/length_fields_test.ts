// Length fields of existing protocols: lengthFieldOffset, lengthAdjustment and stripBytes, checked
// against the worked examples of Netty's LengthFieldBasedFrameDecoder javadoc and tokio-util's
// length_delimited module docs, byte for byte, decoded at every chunking and encoded back.

import { test } from "node:test";
import assert from "node:assert/strict";
import {
  type Codec,
  connect,
  decodeAll,
  FrameTooLargeError,
  IncompleteFrameError,
  InvalidLengthError,
  lengthPrefix,
  type LengthPrefixOptions,
  serve,
} from "../mod.ts";
import { encodeToBytes } from "../lib/_byte_queue.ts";
import { RawPeer } from "./_raw_peer.ts";
import {
  chunkings,
  concat,
  copyBytes,
  decodeWithCuts,
  fromHex,
  hex,
  utf8,
  waitFor,
} from "./_helpers.ts";

const HELLO_NETTY = hex(utf8("HELLO, WORLD")); // 12 bytes, Netty's examples
const HELLO_TOKIO = hex(utf8("Hello world")); // 11 bytes, tokio's examples

interface Example {
  name: string;
  options: LengthPrefixOptions;
  wire: string;
  decoded: string;
  // Whether a decoded frame can be written back: false when stripped bytes are not in the frame.
  encodes: boolean;
}

// Each example as its documentation draws it: INPUT (wire) and DECODED, in hex.
const EXAMPLES: Example[] = [
  {
    // Netty: "2 bytes length field at offset 0, do not strip header"
    name: "Netty's 2-byte length field at offset 0, header not stripped",
    options: { lengthFormat: "u16be", stripBytes: 0 },
    wire: `000c${HELLO_NETTY}`,
    decoded: `000c${HELLO_NETTY}`,
    encodes: true,
  },
  {
    // Netty: "2 bytes length field at offset 0, strip header"
    name: "Netty's 2-byte length field at offset 0, header stripped",
    options: { lengthFormat: "u16be", stripBytes: 2 },
    wire: `000c${HELLO_NETTY}`,
    decoded: HELLO_NETTY,
    encodes: true,
  },
  {
    // Netty: "2 bytes length field at offset 0, do not strip header, the length field represents
    // the length of the whole message"
    name: "Netty's 2-byte length field counting the whole message, header not stripped",
    options: { lengthFormat: "u16be", lengthAdjustment: -2, stripBytes: 0 },
    wire: `000e${HELLO_NETTY}`,
    decoded: `000e${HELLO_NETTY}`,
    encodes: true,
  },
  {
    // Netty: "3 bytes length field at the end of 5 bytes header, do not strip header"
    name: "Netty's 3-byte length field at the end of a 5-byte header, header not stripped",
    options: { lengthFormat: "u24be", lengthFieldOffset: 2, stripBytes: 0 },
    wire: `cafe00000c${HELLO_NETTY}`,
    decoded: `cafe00000c${HELLO_NETTY}`,
    encodes: true,
  },
  {
    // Netty: "3 bytes length field at the beginning of 5 bytes header, do not strip header"
    name: "Netty's 3-byte length field at the beginning of a 5-byte header, header not stripped",
    options: { lengthFormat: "u24be", lengthAdjustment: 2, stripBytes: 0 },
    wire: `00000ccafe${HELLO_NETTY}`,
    decoded: `00000ccafe${HELLO_NETTY}`,
    encodes: true,
  },
  {
    // Netty: "2 bytes length field at offset 1 in the middle of 4 bytes header, strip the first
    // header field and the length field"
    name: "Netty's 2-byte length field at offset 1 of a 4-byte header, HDR1 and length stripped",
    options: { lengthFormat: "u16be", lengthFieldOffset: 1, lengthAdjustment: 1, stripBytes: 3 },
    wire: `ca000cfe${HELLO_NETTY}`,
    decoded: `fe${HELLO_NETTY}`,
    encodes: false,
  },
  {
    // Netty: the same, "the length field represents the length of the whole message"
    name:
      "Netty's 2-byte length field at offset 1 counting the whole message, HDR1 and length stripped",
    options: { lengthFormat: "u16be", lengthFieldOffset: 1, lengthAdjustment: -3, stripBytes: 3 },
    wire: `ca0010fe${HELLO_NETTY}`,
    decoded: `fe${HELLO_NETTY}`,
    encodes: false,
  },
  {
    // tokio Example 1: length_field_type::<u16>(), length_adjustment(0), num_skip left default
    name: "tokio's example 1: a u16 length field at offset 0, head omitted",
    options: { lengthFormat: "u16be" },
    wire: `000b${HELLO_TOKIO}`,
    decoded: HELLO_TOKIO,
    encodes: true,
  },
  {
    // tokio Example 2: length_adjustment(2), num_skip(0). tokio's adjustment counts from the
    // first kept byte; framed's, like Netty's, from the end of the field: 2 + 0 - 2 = 0.
    name: "tokio's example 2: a u16 length field at offset 0, head included",
    options: { lengthFormat: "u16be", lengthAdjustment: 0, stripBytes: 0 },
    wire: `000b${HELLO_TOKIO}`,
    decoded: `000b${HELLO_TOKIO}`,
    encodes: true,
  },
  {
    // tokio Example 3: length_adjustment(-2), num_skip left default
    name: "tokio's example 3: a u16 length field counting the head, head omitted",
    options: { lengthFormat: "u16be", lengthAdjustment: -2 },
    wire: `000d${HELLO_TOKIO}`,
    decoded: HELLO_TOKIO,
    encodes: true,
  },
  {
    // tokio Example 4: length_field_length(3), length_adjustment(3 + 2), num_skip(0):
    // framed's adjustment is 5 + 0 - 3 = 2.
    name: "tokio's example 4: a 3-byte length field in a 5-byte head, head included",
    options: { lengthFormat: "u24be", lengthAdjustment: 2, stripBytes: 0 },
    wire: `00000bcafe${HELLO_TOKIO}`,
    decoded: `00000bcafe${HELLO_TOKIO}`,
    encodes: true,
  },
  {
    // tokio Example 5: length_field_offset(1), u16, length_adjustment(1), num_skip(3)
    name: "tokio's example 5: a u16 length field at offset 1 of a 4-byte head, hdr2 kept",
    options: { lengthFormat: "u16be", lengthFieldOffset: 1, lengthAdjustment: 1, stripBytes: 3 },
    wire: `ca000bfe${HELLO_TOKIO}`,
    decoded: `fe${HELLO_TOKIO}`,
    encodes: false,
  },
  {
    // tokio Example 6: length_field_offset(1), u16, length_adjustment(-3), num_skip(3)
    name: "tokio's example 6: a u16 length field at offset 1 counting the whole frame, hdr2 kept",
    options: { lengthFormat: "u16be", lengthFieldOffset: 1, lengthAdjustment: -3, stripBytes: 3 },
    wire: `ca000ffe${HELLO_TOKIO}`,
    decoded: `fe${HELLO_TOKIO}`,
    encodes: false,
  },
  {
    // tokio Example 7: length_field_length(3), length_adjustment(0), num_skip(4): framed's
    // adjustment is 0 + 4 - 3 = 1 (the unused byte after the field is part of the frame).
    name: "tokio's example 7: a 3-byte length field then an unused byte, both skipped",
    options: { lengthFormat: "u24be", lengthAdjustment: 1, stripBytes: 4 },
    wire: `00000bff${HELLO_TOKIO}`,
    decoded: HELLO_TOKIO,
    encodes: false,
  },
];

/** Writes `frame` through `encodeWith`, the in-place path of `conn.writeWith()`. */
function encodeInPlace(codec: Codec<Uint8Array>, frame: Uint8Array): Uint8Array {
  return encodeToBytes(
    (f: Uint8Array, sink) => codec.encodeWith!(f.length, (body) => body.set(f), sink),
    frame,
    1,
  );
}

for (const example of EXAMPLES) {
  test(`${example.name} decodes byte for byte, however the stream is cut`, () => {
    const codec = lengthPrefix(example.options);
    const decoded = fromHex(example.decoded);
    assert.deepEqual(decodeAll(codec, fromHex(example.wire)).map(hex), [example.decoded]);
    // Three frames back to back, so that every cut also falls between frames.
    const wire = concat([fromHex(example.wire), fromHex(example.wire), fromHex(example.wire)]);
    for (const cuts of chunkings(wire.length, 14, 200, 8)) {
      const frames = decodeWithCuts(codec.createDecoder(), wire, cuts, copyBytes);
      assert.deepEqual(frames, [decoded, decoded, decoded], `cut at ${cuts}`);
    }
  });

  if (example.encodes) {
    test(`${example.name} encodes its decoded frame back to the same bytes`, () => {
      const codec = lengthPrefix(example.options);
      const frame = fromHex(example.decoded);
      assert.equal(hex(codec.encode(frame)), example.wire);
      assert.equal(hex(encodeInPlace(codec, frame)), example.wire);
    });
  } else {
    test(`${example.name} decodes but refuses to encode, with a TypeError`, () => {
      const codec = lengthPrefix(example.options);
      const frame = fromHex(example.decoded);
      assert.throws(() => codec.encode(frame), TypeError);
      assert.throws(() => encodeInPlace(codec, frame), TypeError);
    });
  }
}

test("tokio's encoding example writes a u16 length before hello world", () => {
  // tokio: length_field_type::<u16>() encodes "hello world" as \x00\x0b + "hello world".
  assert.equal(
    hex(lengthPrefix({ lengthFormat: "u16be" }).encode(utf8("hello world"))),
    `000b${hex(utf8("hello world"))}`,
  );
});

test("a frame that keeps its header gets the length field written over its placeholder", () => {
  const codec = lengthPrefix({ lengthFormat: "u16be", lengthFieldOffset: 2, stripBytes: 0 });
  // The bytes before the field are the frame's own; the field's two bytes are overwritten.
  const frame = fromHex(`cafe9999${hex(utf8("abc"))}`);
  assert.equal(hex(codec.encode(frame)), `cafe0003${hex(utf8("abc"))}`);
  assert.equal(hex(encodeInPlace(codec, frame)), `cafe0003${hex(utf8("abc"))}`);
  assert.deepEqual(decodeAll(codec, codec.encode(frame)), [fromHex(`cafe0003${hex(utf8("abc"))}`)]);
  assert.equal(hex(frame), `cafe9999${hex(utf8("abc"))}`, "the caller's frame is not changed");
});

test("the default layout spelled out keeps the default codec and its wire format", () => {
  const spelled = lengthPrefix({ lengthFieldOffset: 0, lengthAdjustment: 0, stripBytes: 4 });
  assert.equal(spelled.name, "length-prefix(u32be)");
  assert.equal(hex(spelled.encode(utf8("hi"))), hex(lengthPrefix().encode(utf8("hi"))));
  assert.equal(
    lengthPrefix({ lengthFormat: "u16be", lengthFieldOffset: 1, stripBytes: 0 }).name,
    "length-prefix(u16be, offset 1, strip 0)",
  );
});

test("a varint length field after a prefix decodes at every chunking and strips the prefix", () => {
  const codec = lengthPrefix({ lengthFormat: "varint", lengthFieldOffset: 2, stripBytes: 2 });
  const body = new Uint8Array(300).fill(7);
  // 300 is the varint ac 02; the frame keeps the field and the body.
  const wire = concat([fromHex("abcdac02"), body]);
  const expected = concat([fromHex("ac02"), body]);
  for (const cuts of chunkings(wire.length, 3, 50, 16).filter((c) => c.length < 40)) {
    assert.deepEqual(decodeWithCuts(codec.createDecoder(), wire, cuts, copyBytes), [expected]);
  }
  assert.throws(() => codec.encode(expected), TypeError, "the stripped prefix is not in the frame");
});

// ── Limits, checked from the header ─────────────────────────────────────────────────────────

test("a header announcing more than maxFrameLength is refused before any body byte arrives", () => {
  const options: LengthPrefixOptions = {
    lengthFormat: "u16be",
    lengthFieldOffset: 1,
    lengthAdjustment: 1,
    stripBytes: 3,
    maxFrameLength: 100,
  };
  // 100 bytes after the field (99 + 1) is the limit and passes; 101 (100 + 1) is refused.
  const fits = lengthPrefix(options).createDecoder();
  assert.equal(fits.push(fromHex("ca0063"), () => {}), false);
  for (const cuts of [[], [1], [2], [1, 2]]) {
    const decoder = lengthPrefix(options).createDecoder();
    const header = fromHex("ca0064");
    let error: unknown;
    let start = 0;
    try {
      for (const end of [...cuts, header.length]) {
        decoder.push(header.subarray(start, end), () => assert.fail("no frame"));
        start = end;
      }
    } catch (caught) {
      error = caught;
    }
    assert.ok(error instanceof FrameTooLargeError, `cut at ${cuts}: ${error}`);
    assert.equal(error.length, 101, "the bytes after the field: value + adjustment");
    assert.equal(error.maxFrameLength, 100);
    assert.equal(error.direction, "decode");
  }
});

test("maxFrameLength counts the bytes after the length field when encoding too", () => {
  const codec = lengthPrefix({ lengthFormat: "u16be", stripBytes: 0, maxFrameLength: 10 });
  // A kept 2-byte header plus 10 bytes after it fits; 11 after it do not.
  assert.equal(codec.encode(new Uint8Array(12)).length, 12);
  assert.throws(() => codec.encode(new Uint8Array(13)), FrameTooLargeError);
});

test("a length below the adjustment is an InvalidLengthError, and the decoder stays failed", () => {
  const codec = lengthPrefix({ lengthFormat: "u16be", lengthAdjustment: -2, stripBytes: 0 });
  const decoder = codec.createDecoder();
  // A value of 1 counting a 2-byte header leaves -1 bytes after the field.
  const failures: unknown[] = [];
  for (const bytes of ["0001", "0002"]) {
    try {
      decoder.push(fromHex(bytes), () => assert.fail("no frame"));
    } catch (error) {
      failures.push(error);
    }
  }
  const [first, second] = failures;
  assert.ok(first instanceof InvalidLengthError, String(first));
  assert.equal(first.reason, "negative-after-adjustment");
  assert.equal(first.value, -1);
  assert.equal(second, first, "a failed decoder throws the same error, and guesses no frame");
});

test("a frame shorter than stripBytes is an InvalidLengthError", () => {
  const codec = lengthPrefix({ lengthFormat: "u16be", lengthAdjustment: -2, stripBytes: 4 });
  // The value 3 makes a 3-byte frame, which has no 4 bytes to strip.
  try {
    decodeAll(codec, fromHex("0003ff"));
    assert.fail("decoded");
  } catch (error) {
    assert.ok(error instanceof InvalidLengthError);
    assert.equal(error.reason, "shorter-than-strip");
    assert.equal(error.value, 3);
  }
});

test("a stream that ends inside the prefix, the field or the body is an IncompleteFrameError", () => {
  const codec = lengthPrefix({ lengthFormat: "u16be", lengthFieldOffset: 1, stripBytes: 0 });
  for (const wire of ["ca", "ca00", "ca0003", "ca000361"]) {
    assert.throws(() => decodeAll(codec, fromHex(wire)), IncompleteFrameError, wire);
  }
  assert.deepEqual(decodeAll(codec, fromHex("ca0001ff")), [fromHex("ca0001ff")]);
});

test("bufferedBytes counts the prefix, field and body bytes of a frame in progress", () => {
  // The header is stripped: the bytes held are still the wire bytes received, not the frame's.
  const decoder = lengthPrefix({ lengthFormat: "u16be", lengthFieldOffset: 1, stripBytes: 3 })
    .createDecoder();
  const frames: string[] = [];
  const seen: number[] = [];
  for (const piece of ["ca", "00", "03", "61", "6263ca"]) {
    decoder.push(fromHex(piece), (frame) => frames.push(hex(frame)));
    seen.push(decoder.bufferedBytes);
  }
  assert.deepEqual(seen, [1, 2, 3, 4, 1], "the last byte starts the next frame");
  assert.deepEqual(frames, ["616263"]);
});

// ── Bad combinations ────────────────────────────────────────────────────────────────────────

test("bad length-field options are typed errors when the codec is made", () => {
  const bad: [LengthPrefixOptions, typeof RangeError | typeof TypeError, RegExp][] = [
    [{ lengthFieldOffset: -1 }, RangeError, /lengthFieldOffset must be a non-negative integer/],
    [{ lengthFieldOffset: 1.5 }, RangeError, /lengthFieldOffset/],
    [{ lengthFieldOffset: NaN }, RangeError, /lengthFieldOffset/],
    [{ lengthAdjustment: 0.5 }, RangeError, /lengthAdjustment must be an integer/],
    [{ lengthAdjustment: Infinity }, RangeError, /lengthAdjustment/],
    [{ stripBytes: -1 }, RangeError, /stripBytes must be a non-negative integer/],
    [{ stripBytes: 2.5 }, RangeError, /stripBytes/],
    [{ lengthAdjustment: 11, maxFrameLength: 10 }, RangeError, /every frame would be too large/],
    [
      { lengthFormat: "u16be", stripBytes: 13, maxFrameLength: 10 },
      RangeError,
      /more than any frame holds/,
    ],
    [
      { lengthFormat: "varint", lengthFieldOffset: 1, stripBytes: 2 },
      TypeError,
      /inside a varint length field/,
    ],
  ];
  for (const [options, type, message] of bad) {
    assert.throws(() => lengthPrefix(options), (error: unknown) => {
      assert.ok(error instanceof type, `${JSON.stringify(options)}: ${error}`);
      assert.match((error as Error).message, message);
      return true;
    });
  }
  // The edges of those ranges are fine.
  lengthPrefix({ lengthFormat: "u16be", stripBytes: 12, maxFrameLength: 10 });
  lengthPrefix({ lengthAdjustment: 10, maxFrameLength: 10 });
  lengthPrefix({ lengthFormat: "varint", lengthFieldOffset: 2, stripBytes: 2 });
});

test("frames that cannot be encoded are RangeErrors naming the header they lack", () => {
  const kept = lengthPrefix({ lengthFormat: "u16be", lengthFieldOffset: 2, stripBytes: 0 });
  assert.throws(() => kept.encode(new Uint8Array(3)), /shorter than the 4 header bytes/);
  assert.throws(() => kept.encode(new Uint8Array(3)), RangeError);
  const extra = lengthPrefix({ lengthFormat: "u16be", lengthAdjustment: 2 });
  assert.throws(() => extra.encode(new Uint8Array(1)), RangeError);
  assert.equal(hex(extra.encode(fromHex("cafe"))), "0000cafe");
});

// ── On real sockets ─────────────────────────────────────────────────────────────────────────

test(
  "a server with a header-keeping layout echoes frames, and a bad length closes only its connection",
  { timeout: 60_000 },
  async () => {
    // Netty's "length counts the whole message, header kept", after a 2-byte tag.
    const options: LengthPrefixOptions = {
      lengthFormat: "u16be",
      lengthFieldOffset: 2,
      lengthAdjustment: -4,
      stripBytes: 0,
    };
    const errors: unknown[] = [];
    const server = await serve({
      codec: lengthPrefix(options),
      handler: async (conn) => {
        for await (const frame of conn) conn.write(frame);
      },
      onError: (error) => errors.push(error),
    });
    const port = server.address.port;
    const good = await connect({ port, codec: lengthPrefix(options) });
    try {
      // The frame written holds the tag and a placeholder; the codec writes the length.
      await good.writeFrame(fromHex(`cafe0000${hex(utf8("HELLO, WORLD"))}`));
      assert.equal(hex((await good.readFrame())!), `cafe0010${hex(utf8("HELLO, WORLD"))}`);
      const bad = await RawPeer.connect(port);
      await bad.send(fromHex("cafe0003")); // 3 cannot count a 4-byte header
      assert.equal(await bad.read(1, 10_000), null, "the bad connection is closed");
      bad.socket.destroy();
      await waitFor(() => errors.length === 1, "onError");
      assert.ok(errors[0] instanceof InvalidLengthError, String(errors[0]));
      assert.equal(errors[0].reason, "negative-after-adjustment");
      await good.writeFrame(fromHex("beef0000"));
      assert.equal(hex((await good.readFrame())!), "beef0004", "the good connection is served");
    } finally {
      good.close();
      await server.shutdown();
    }
  },
);
