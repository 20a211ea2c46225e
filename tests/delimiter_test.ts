import { test } from "node:test";
import assert from "node:assert/strict";
import {
  decodeAll,
  type Decoder,
  delimiter,
  DelimiterInRecordError,
  FrameTooLargeError,
  IncompleteFrameError,
  lengthPrefix,
} from "../mod.ts";
import { withEchoServer } from "./conformance.ts";
import { RawPeer } from "./_raw_peer.ts";
import {
  checkAllChunkings,
  chunkings,
  copyBytes,
  fromHex,
  SOCKET_APIS,
  utf8,
  waitFor,
} from "./_helpers.ts";

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

test("a last record that the stream ends instead of a delimiter is emitted", () => {
  assert.deepEqual(decodeAll(delimiter(), utf8("one\ntwo")), records("one", "two"));
  assert.deepEqual(decodeAll(delimiter(), utf8("only")), records("only"));
});

test("a stream that ends right after a delimiter, or is empty, has no record after it", () => {
  assert.deepEqual(decodeAll(delimiter(), utf8("one\n")), records("one"));
  assert.deepEqual(decodeAll(delimiter(), utf8("one\n\n")), records("one", ""));
  assert.deepEqual(decodeAll(delimiter(), new Uint8Array(0)), []);
});

test("requireFinalDelimiter refuses a last record without its delimiter, in a message about records", () => {
  const strict = delimiter({ requireFinalDelimiter: true });
  assert.throws(
    () => decodeAll(strict, utf8("one\ntwo")),
    (error: unknown) =>
      error instanceof IncompleteFrameError && error.received === 3 &&
      error.message === "stream ended mid-record: 3 bytes of an unfinished record arrived",
  );
  assert.deepEqual(decodeAll(strict, utf8("one\ntwo\n")), records("one", "two"));
});

/**
 * Decodes `wire` cut at `cuts`, taking the last record from `finish` as a connection does; the
 * chunks are copies overwritten after each push, so a record aliasing them is caught.
 */
function decodeCut(decoder: Decoder<Uint8Array>, wire: Uint8Array, cuts: number[]): string[] {
  const got: string[] = [];
  const take = (record: Uint8Array) => got.push(new TextDecoder().decode(record));
  let start = 0;
  for (const end of [...cuts, wire.length]) {
    const chunk = wire.slice(start, end);
    decoder.push(chunk, take);
    chunk.fill(0xee);
    start = end;
  }
  decoder.finish(take);
  return got;
}

for (
  const [name, delim, tails] of [
    ["\\n", "\n", ["x", "tail\r", "\r"]],
    ["\\r\\n", "\r\n", ["x", "tail\r", "\r", "\n"]],
    ["a 4-byte marker", "<=>|", ["x", "<", "<=>", "ab<="]],
  ] as const
) {
  test(`delimiter(${name}) emits the last unterminated record however the stream is cut`, () => {
    const body = ["", "hello", "", "a\rb", "x".repeat(40)];
    for (const tail of tails) {
      const wire = utf8(body.map((r) => r + delim).join("") + tail);
      for (const cuts of chunkings(wire.length, 7 + tail.length, 300, 16)) {
        const got = decodeCut(delimiter({ delimiter: delim }).createDecoder(), wire, cuts);
        assert.deepEqual(got, [...body, tail], `tail ${JSON.stringify(tail)}, cuts ${cuts}`);
      }
    }
  });

  test(`delimiter(${name}) with requireFinalDelimiter refuses the tail however the stream is cut`, () => {
    const wire = utf8(`one${delim}two${delim}${tails.at(-1)}`);
    for (const cuts of chunkings(wire.length, 11, 100, 16)) {
      const decoder = delimiter({ delimiter: delim, requireFinalDelimiter: true }).createDecoder();
      assert.throws(
        () => decodeCut(decoder, wire, cuts),
        (error: unknown) =>
          error instanceof IncompleteFrameError && error.received === tails.at(-1)!.length,
        `cuts ${cuts}`,
      );
    }
  });
}

test("the record limit applies to the last record too, even one held as a possible delimiter", () => {
  const codec = delimiter({ delimiter: "\r\n", maxRecordLength: 4 });
  assert.deepEqual(decodeAll(codec, utf8("ab\r\nabcd")), records("ab", "abcd"));
  // Five bytes fit in the buffer (the fifth could start a "\r\n"), but not in a record.
  const decoder = codec.createDecoder();
  decoder.push(utf8("abcd\r"), () => {});
  assert.throws(
    () => decoder.finish(() => assert.fail("no record over the limit may be emitted")),
    (error: unknown) =>
      error instanceof FrameTooLargeError && error.length === 5 && error.maxFrameLength === 4 &&
      error.message === "received a record of 5 bytes, over the limit of 4 bytes",
  );
});

test("finish() without a callback refuses a last record rather than dropping it", () => {
  const decoder = delimiter().createDecoder();
  decoder.push(utf8("a\nb"), () => {});
  assert.throws(() => decoder.finish(), IncompleteFrameError);
});

test("delimiter errors say record while the other codecs' still say frame", () => {
  const codec = delimiter({ maxRecordLength: 2 });
  assert.throws(() => codec.encode(utf8("abc")), {
    message: "refusing to send a record of 3 bytes, over the limit of 2 bytes",
  });
  assert.throws(() => decodeAll(codec, utf8("abc\n")), {
    message: "received a record of 3 bytes, over the limit of 2 bytes",
  });
  assert.throws(() => codec.encode(utf8("a\n")), {
    message: "the record contains the delimiter at byte 1",
  });
  assert.throws(() => decodeAll(lengthPrefix({ maxFrameLength: 2 }), fromHex("00000003")), {
    message: "received a frame of 3 bytes, over the limit of 2 bytes",
  });
  assert.throws(() => decodeAll(lengthPrefix(), fromHex("0000000361")), {
    message: "stream ended mid-frame: received 5 of 7 bytes",
  });
});

/** Everything the peer receives until the server ends the stream (or resets it). */
async function readToEnd(peer: RawPeer): Promise<string> {
  let text = "";
  for (let i = 0; i < 64; i++) {
    const byte = await peer.read(1);
    if (byte === null) return text;
    text += byte.toString("latin1");
  }
  assert.fail(`the server kept sending: ${JSON.stringify(text)}`);
}

for (const api of SOCKET_APIS) {
  test(`a delimiter echo server (${api}) answers the last record of a client that half-closes`, async () => {
    await withEchoServer({ api, transport: "tcp" }, delimiter(), async ({ to, errors }) => {
      const peer = await RawPeer.connect((to as { port: number }).port);
      try {
        await peer.send(utf8("a\nb"));
        peer.socket.end(); // `printf 'a\nb' | nc`: the request ends with a FIN, not a newline
        assert.equal(await readToEnd(peer), "a\nb\n", "both records come back, then the end");
        assert.deepEqual(errors, []);
      } finally {
        peer.close();
      }
    });
  });

  test(`a strict delimiter server (${api}) reports the unterminated record and echoes no part of it`, async () => {
    const codec = delimiter({ requireFinalDelimiter: true });
    await withEchoServer({ api, transport: "tcp" }, codec, async ({ to, errors }) => {
      const peer = await RawPeer.connect((to as { port: number }).port);
      try {
        await peer.send(utf8("a\nb"));
        peer.socket.end();
        // Bad input closes the connection at once: the echoed "a\n" may or may not get out first.
        const got = await readToEnd(peer);
        assert.ok(got === "" || got === "a\n", `got ${JSON.stringify(got)}`);
        await waitFor(() => errors.length > 0, "the server to report the unterminated record");
        assert.ok(
          errors[0] instanceof IncompleteFrameError && errors[0].received === 1,
          `${errors[0]}`,
        );
      } finally {
        peer.close();
      }
    });
  });
}

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
