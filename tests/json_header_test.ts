import { test } from "node:test";
import assert from "node:assert/strict";
import {
  decodeAll,
  FrameTooLargeError,
  IncompleteFrameError,
  InvalidHeaderError,
  jsonHeader,
  type JsonHeaderEvent,
  type JsonHeaderFrame,
  pythonJsonDumps,
} from "../mod.ts";
import { FIRST_CAPACITY } from "../lib/_partial_frame.ts";
import {
  checkAllChunkings,
  concat,
  cutsAround,
  decodeWithCuts,
  fromHex,
  hex,
  patterned,
  reservedBytes,
  sameBytes,
  seededRandom,
  utf8,
} from "./_helpers.ts";

const snapshot = (f: JsonHeaderFrame): JsonHeaderFrame => ({
  header: f.header,
  body: f.body.slice(),
});
const frame = (header: Record<string, unknown>, body: Uint8Array): JsonHeaderFrame => ({
  header: { data_size: body.length, ...header },
  body,
});

const sample = [
  frame({ file_name: "a.txt", md5: "x" }, utf8("hello")),
  frame({}, new Uint8Array(0)),
  frame({ nested: { list: [1, 2, "三"] } }, new Uint8Array(120).fill(9)),
  frame({ file_name: "b" }, utf8("world")),
];

test("json-header decodes the same frames however the stream is cut", () => {
  checkAllChunkings(jsonHeader(), sample, { snapshot, randomRuns: 10_000, seed: 5 });
});

test("json-header with an i32le length survives every chunking too", () => {
  checkAllChunkings(jsonHeader({ lengthFormat: "i32le" }), sample, {
    snapshot,
    randomRuns: 2_000,
    seed: 6,
  });
});

test("the seed's Python bytes decode: struct.pack('i', len(head)) + json.dumps(head) + body", () => {
  // Python: head = json.dumps({"data_size": 5, "file_name": "a.txt", "md5": "x"}).encode()
  //         struct.pack('i', len(head)) + head + b"hello"
  const head = utf8('{"data_size": 5, "file_name": "a.txt", "md5": "x"}');
  const wire = concat([fromHex("32000000"), head, utf8("hello")]);
  const [decoded] = decodeAll(jsonHeader({ lengthFormat: "i32le" }), wire);
  assert.deepEqual(decoded!.header, { data_size: 5, file_name: "a.txt", md5: "x" });
  assert.deepEqual(decoded!.body, utf8("hello"));
});

test("pythonJsonDumps() makes the seed's exact header bytes", () => {
  const codec = jsonHeader({ lengthFormat: "i32le", stringify: pythonJsonDumps });
  const wire = codec.encode({ header: { data_size: 5 }, body: utf8("hello") });
  // Python: struct.pack('i', 16) + b'{"data_size": 5}' + b"hello"
  assert.equal(hex(wire), "10000000" + hex(utf8('{"data_size": 5}')) + hex(utf8("hello")));
  assert.equal(
    pythonJsonDumps({ a: "é😀", b: [true, null, 1.5] }),
    '{"a": "\\u00e9\\ud83d\\ude00", "b": [true, null, 1.5]}',
  );
});

test("encoding adds the size field first when the header has none", () => {
  const wire = jsonHeader().encode({ header: { file_name: "x" }, body: utf8("abc") });
  assert.equal(
    new TextDecoder().decode(wire.subarray(4, wire.length - 3)),
    '{"data_size":3,"file_name":"x"}',
  );
});

test("encoding refuses a size field that disagrees with the body", () => {
  assert.throws(
    () => jsonHeader().encode({ header: { data_size: 9 }, body: utf8("abc") }),
    InvalidHeaderError,
  );
});

test("a decoded frame echoes back byte for byte, even with unusual JSON spacing", () => {
  const codec = jsonHeader();
  const head = utf8('{ "z" : 1,   "data_size":2 }');
  const wire = concat([fromHex("0000001c"), head, utf8("hi")]);
  const [decoded] = decodeAll(codec, wire);
  assert.deepEqual(codec.encode(decoded!), wire);
  assert.ok(
    Object.isFrozen(decoded!.header),
    "decoded headers are frozen so the raw bytes stay true",
  );
  const changed = codec.encode({ header: { ...decoded!.header, z: 2 }, body: decoded!.body });
  assert.notDeepEqual(changed, wire);
});

test("a custom size field works like the seed's file_size", () => {
  const codec = jsonHeader({ sizeField: "file_size" });
  const [decoded] = decodeAll(codec, codec.encode({ header: { op: "put" }, body: utf8("abc") }));
  assert.deepEqual(decoded!.header, { file_size: 3, op: "put" });
});

const invalid = (json: string) =>
  concat([fromHex(hex(new Uint8Array([0, 0, 0, utf8(json).length]))), utf8(json)]);

for (
  const [what, json, pattern] of [
    ["invalid JSON", "{nope", /not valid UTF-8 JSON/],
    ["a JSON array", "[1,2]", /not a JSON object/],
    ["null", "null", /not a JSON object/],
    ["a missing size", '{"x":1}', /no data_size field/],
    ["a negative size", '{"data_size":-1}', /non-negative integer/],
    ["a fractional size", '{"data_size":1.5}', /non-negative integer/],
    ["a string size", '{"data_size":"5"}', /non-negative integer/],
  ] as const
) {
  test(`a header with ${what} is an InvalidHeaderError`, () => {
    assert.throws(
      () => decodeAll(jsonHeader(), invalid(json)),
      (error: unknown) => error instanceof InvalidHeaderError && pattern.test(error.message),
    );
  });
}

test("invalid UTF-8 in the header is an InvalidHeaderError", () => {
  assert.throws(() => decodeAll(jsonHeader(), fromHex("00000003" + "7bff7d")), InvalidHeaderError);
});

test("maxHeaderLength and maxBodyLength are separate limits, checked before buffering", () => {
  const codec = jsonHeader({ maxHeaderLength: 20, maxBodyLength: 10 });
  assert.throws(
    () => codec.createDecoder().push(fromHex("00000015"), () => {}),
    (error: unknown) =>
      error instanceof FrameTooLargeError && error.length === 21 && error.maxFrameLength === 20,
  );
  const decoder = codec.createDecoder();
  assert.throws(
    () => decoder.push(invalid('{"data_size":11}'), () => {}),
    (error: unknown) =>
      error instanceof FrameTooLargeError && error.length === 11 && error.maxFrameLength === 10,
  );
  assert.equal(decoder.bufferedBytes, 0);
  assert.throws(() => codec.encode({ header: {}, body: new Uint8Array(11) }), FrameTooLargeError);
});

test("end of stream inside the body reports bytes received of expected", () => {
  const wire = jsonHeader().encode({ header: {}, body: utf8("0123456789") });
  const decoder = jsonHeader().createDecoder();
  decoder.push(wire.subarray(0, wire.length - 4), () => {});
  assert.throws(
    () => decoder.finish(),
    (error: unknown) =>
      error instanceof IncompleteFrameError && error.received === wire.length - 4 &&
      error.expected === wire.length,
  );
});

test("the streaming decoder hands a large body over as chunks, never as one buffer", () => {
  const codec = jsonHeader({ maxBodyLength: 2 ** 40 });
  const body = Uint8Array.from({ length: 100_000 }, (_, i) => i % 251);
  const wire = concat([
    codec.encodeHeader({ file_name: "big" }, body.length),
    body,
    codec.encode({ header: {}, body: utf8("x") }),
  ]);
  const decoder = codec.createStreamingDecoder();
  const events: JsonHeaderEvent[] = [];
  const random = seededRandom(3);
  let largestChunk = 0;
  for (let at = 0; at < wire.length;) {
    const size = 1 + Math.floor(random() * 9000);
    decoder.push(wire.subarray(at, at + size), (e) => {
      events.push(e.type === "body" ? { type: "body", chunk: e.chunk.slice() } : e);
      if (e.type === "body") largestChunk = Math.max(largestChunk, e.chunk.length);
    });
    at += size;
    assert.ok(decoder.bufferedBytes < 100, "the body is never buffered");
  }
  decoder.finish();
  assert.ok(largestChunk <= 9000);
  const types = events.map((e) => e.type);
  assert.equal(types[0], "header");
  assert.deepEqual(types.slice(-4), ["end", "header", "body", "end"]);
  const first = events[0] as Extract<JsonHeaderEvent, { type: "header" }>;
  assert.deepEqual(first.header, { data_size: 100_000, file_name: "big" });
  assert.equal(first.bodyLength, 100_000);
  const chunks = events.slice(1, types.indexOf("end")).map((e) =>
    (e as { chunk: Uint8Array }).chunk
  );
  assert.deepEqual(concat(chunks), body);
});

test("the streaming decoder announces an empty body with header then end", () => {
  const codec = jsonHeader();
  const events: string[] = [];
  codec.createStreamingDecoder().push(
    codec.encode({ header: {}, body: new Uint8Array(0) }),
    (e) => events.push(e.type),
  );
  assert.deepEqual(events, ["header", "end"]);
});

const KiB = 1024;
const MiB = 1024 * KiB;

test("a header announcing a 16 MiB body followed by 1 KiB reserves 4 KiB, not 16 MiB", () => {
  const codec = jsonHeader();
  const decoder = codec.createDecoder();
  const head = codec.encodeHeader({ file_name: "big" }, 16 * MiB);
  decoder.push(concat([head, new Uint8Array(KiB)]), () => {});
  assert.equal(decoder.bufferedBytes, KiB);
  assert.equal(reservedBytes(decoder), FIRST_CAPACITY);
});

test("a length announcing a 1 MiB header followed by 1 KiB reserves 4 KiB, not 1 MiB", () => {
  const decoder = jsonHeader({ maxHeaderLength: MiB }).createDecoder();
  decoder.push(concat([fromHex("00100000"), utf8(`{"pad":"${"x".repeat(KiB)}`)]), () => {});
  assert.equal(reservedBytes(decoder), FIRST_CAPACITY);
});

test("headers and bodies larger than the first buffer decode byte-exact when cut around every growth step", () => {
  const codec = jsonHeader({ maxHeaderLength: MiB });
  const frames = [
    frame({ pad: "h".repeat(5 * FIRST_CAPACITY + 10) }, utf8("after a big header")),
    frame({}, patterned(FIRST_CAPACITY - 1, 1)),
    frame({ n: 2 }, patterned(FIRST_CAPACITY + 1, 2)),
    frame({ n: 3 }, patterned(64 * KiB + 3, 3)),
    frame({ n: 4 }, patterned(200 * KiB, 4)),
    frame({ last: true }, utf8("z")),
  ];
  const encoded = frames.map((f) => codec.encode(f));
  const wire = concat(encoded);
  // Split points within 6 bytes of each frame start, body start and doubling inside each part.
  const marks: number[] = [];
  let start = 0;
  for (const [i, bytes] of encoded.entries()) {
    const bodyStart = bytes.length - frames[i]!.body.length;
    for (const part of [0, 4, bodyStart]) {
      for (const k of [0, 1, 2, 4, 8, 16, 32]) marks.push(start + part + k * FIRST_CAPACITY);
    }
    start += bytes.length;
  }
  const chunkings = cutsAround(marks, wire.length, 65, 100);
  for (const cuts of chunkings) {
    const decoded = decodeWithCuts(codec.createDecoder(), wire, cuts, snapshot);
    const what = `cut at ${cuts.slice(0, 3).join(", ")}${cuts.length > 3 ? ", …" : ""}`;
    assert.equal(decoded.length, frames.length, what);
    decoded.forEach((got, i) => {
      assert.deepEqual(got.header, frames[i]!.header, `header ${i}, ${what}`);
      assert.ok(sameBytes(got.body, frames[i]!.body), `body ${i} differs, ${what}`);
    });
  }
});

test("a header nested 30,000 deep is frozen all the way down, not a RangeError", () => {
  const depth = 30_000;
  const json = `{"data_size":0,"deep":${"[".repeat(depth)}${"]".repeat(depth)}}`;
  const bytes = utf8(json);
  const wire = new Uint8Array(4 + bytes.length);
  new DataView(wire.buffer).setUint32(0, bytes.length);
  wire.set(bytes, 4);
  let decoded: JsonHeaderFrame[] = [];
  try {
    decoded = decodeAll(jsonHeader(), wire);
  } catch (error) {
    // Refusing it is allowed too, but only as a typed error.
    assert.ok(error instanceof InvalidHeaderError, `got ${error}`);
    return;
  }
  assert.equal(decoded.length, 1);
  let level: unknown = decoded[0]!.header.deep;
  let seen = 0;
  while (Array.isArray(level)) {
    assert.ok(Object.isFrozen(level), `level ${seen} is frozen`);
    level = level[0];
    seen++;
  }
  assert.equal(seen, depth);
});
