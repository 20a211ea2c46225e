import { test } from "node:test";
import assert from "node:assert/strict";
import {
  decodeAll,
  type Decoder,
  DelimiterInRecordError,
  FrameTooLargeError,
  IncompleteFrameError,
  InvalidUtf8Error,
  lines,
} from "../mod.ts";
import { withEchoServer } from "./conformance.ts";
import { RawPeer } from "./_raw_peer.ts";
import { checkAllChunkings, chunkings, concat, sleep, SOCKET_APIS, utf8 } from "./_helpers.ts";

/**
 * Decodes `wire` cut at `cuts`, taking the last line from `finish` as a connection does; each chunk
 * is overwritten after its push, so a line that kept a reference to it would be caught.
 */
function decodeCut(decoder: Decoder<string>, wire: Uint8Array, cuts: number[]): string[] {
  const got: string[] = [];
  let start = 0;
  for (const end of [...cuts, wire.length]) {
    const chunk = wire.slice(start, end);
    decoder.push(chunk, (line) => got.push(line));
    chunk.fill(0xee);
    start = end;
  }
  decoder.finish((line) => got.push(line));
  return got;
}

test("lines() splits on \\n and \\r\\n, mixed, and keeps a \\r anywhere else", () => {
  const got = decodeAll(lines(), utf8("a\r\nb\nc\rd\n\r\n\n\r\r\nend\n"));
  assert.deepEqual(got, ["a", "b", "c\rd", "", "", "\r", "end"]);
});

test("lines() decodes UTF-8 split anywhere, CRLF split anywhere, and the last line, however cut", () => {
  // 2-, 3- and 4-byte characters, so every chunking splits some character between two pushes.
  const text = "héllo\r\n中文\n\r\n😀 wörld\r\nnaïve ☃";
  const wire = utf8(text);
  for (const cuts of chunkings(wire.length, 5, 3000, 12)) {
    const got = decodeCut(lines().createDecoder(), wire, cuts);
    assert.deepEqual(got, ["héllo", "中文", "", "😀 wörld", "naïve ☃"], `cuts ${cuts}`);
  }
});

test("lines() round-trips what it encodes however the stream is cut", () => {
  for (const newline of ["\n", "\r\n"] as const) {
    checkAllChunkings(lines({ newline }), ["", "a", "x\ry", "é😀中", "long ".repeat(30), ""], {
      snapshot: (line) => line,
      randomRuns: 2000,
      seed: 17 + newline.length,
    });
  }
});

test("the last line without a newline is emitted, with a \\r before the end dropped", () => {
  assert.deepEqual(decodeAll(lines(), utf8("one\ntwo")), ["one", "two"]);
  assert.deepEqual(decodeAll(lines(), utf8("one\r\ntwo\r")), ["one", "two"]);
  assert.deepEqual(decodeAll(lines(), utf8("one\n")), ["one"], "an empty tail is no line");
  assert.deepEqual(decodeAll(lines(), utf8("one\n\r")), ["one"], "nor is a lone \\r tail");
  assert.deepEqual(decodeAll(lines(), new Uint8Array(0)), []);
});

test("requireFinalNewline refuses a last line without a newline, in a message about lines", () => {
  const strict = lines({ requireFinalNewline: true });
  assert.deepEqual(decodeAll(strict, utf8("one\r\ntwo\n")), ["one", "two"]);
  assert.throws(
    () => decodeAll(strict, utf8("one\ntwo")),
    (error: unknown) =>
      error instanceof IncompleteFrameError && error.received === 3 &&
      error.message === "stream ended mid-line: 3 bytes of an unfinished line arrived",
  );
});

test("maxLineLength counts UTF-8 bytes without the line ending, \\r\\n included", () => {
  const codec = lines({ maxLineLength: 4 });
  assert.deepEqual(decodeAll(codec, utf8("abcd\r\néé\nabcd\r")), ["abcd", "éé", "abcd"]);
  assert.throws(
    () => decodeAll(codec, utf8("ééé\n")),
    (error: unknown) =>
      error instanceof FrameTooLargeError && error.length === 6 && error.maxFrameLength === 4 &&
      error.message === "received a line of 6 bytes, over the limit of 4 bytes",
  );
  assert.throws(() => decodeAll(codec, utf8("abcde\r\n")), FrameTooLargeError);
});

test("maxLineLength applies to the last line, and to bytes held while a line is unfinished", () => {
  const codec = lines({ maxLineLength: 4 });
  assert.throws(
    () => decodeAll(codec, utf8("ok\nabcde")),
    (error: unknown) => error instanceof FrameTooLargeError && error.length === 5,
  );
  const decoder = codec.createDecoder();
  // Four bytes and a "\r" may still be a line of four: held; a sixth byte never can be.
  decoder.push(utf8("abcd\r"), () => {});
  assert.equal(decoder.bufferedBytes, 5);
  assert.throws(() => decoder.push(utf8("x"), () => {}), FrameTooLargeError);
});

test("a line that is not UTF-8 fails with InvalidUtf8Error, and the decoder stays failed", () => {
  const decoder = lines().createDecoder();
  const got: string[] = [];
  decoder.push(utf8("ok\n"), (line) => got.push(line));
  const bad = concat([utf8("a"), new Uint8Array([0xc3]), utf8("\nnext\n")]);
  assert.throws(
    () => decoder.push(bad, (line) => got.push(line)),
    (error: unknown) => error instanceof InvalidUtf8Error && error.length === 2,
  );
  assert.throws(() => decoder.push(utf8("more\n"), () => {}), InvalidUtf8Error);
  assert.deepEqual(got, ["ok"]);
});

test("a byte order mark is text, not dropped", () => {
  assert.deepEqual(decodeAll(lines(), utf8("\uFEFFa\n\uFEFFb")), ["\uFEFFa", "\uFEFFb"]);
});

test("encoding appends the newline and refuses a line that would read back as another", () => {
  assert.deepEqual(lines().encode("héllo"), utf8("héllo\n"));
  assert.deepEqual(lines({ newline: "\r\n" }).encode("EHLO x"), utf8("EHLO x\r\n"));
  assert.deepEqual(lines().encode(""), utf8("\n"));
  assert.deepEqual(lines().encode("a\rb"), utf8("a\rb\n"));
  assert.throws(() => lines().encode("é\nx"), {
    name: "DelimiterInRecordError",
    message: "the line contains a line ending at byte 2",
  });
  assert.throws(
    () => lines().encode("ab\r"),
    (error: unknown) => error instanceof DelimiterInRecordError && error.index === 2,
  );
});

test("encoding refuses a line over maxLineLength in UTF-8 bytes, not characters", () => {
  const codec = lines({ maxLineLength: 4 });
  assert.deepEqual(codec.encode("éé"), utf8("éé\n"));
  assert.throws(() => codec.encode("ééa"), {
    message: "refusing to send a line of 5 bytes, over the limit of 4 bytes",
  });
  assert.throws(() => codec.encode("😀a"), FrameTooLargeError);
  assert.throws(() => codec.encode("abcde"), FrameTooLargeError);
});

test("lines() refuses a bad limit or newline up front", () => {
  assert.throws(() => lines({ maxLineLength: -1 }), RangeError);
  assert.throws(() => lines({ newline: "\r" as "\n" }), RangeError);
});

test("lines().decoderStream() reads any byte stream, a character cut across chunks and the last line", async () => {
  const bytes = utf8("é\r\n😀\nlast");
  const got: string[] = [];
  for (let cut = 1; cut < bytes.length; cut++) {
    const chunks = new ReadableStream<Uint8Array>({
      start(controller) {
        controller.enqueue(bytes.slice(0, cut));
        controller.enqueue(bytes.slice(cut));
        controller.close();
      },
    });
    got.length = 0;
    for await (const line of chunks.pipeThrough(lines().decoderStream())) got.push(line);
    assert.deepEqual(got, ["é", "😀", "last"], `cut at ${cut}`);
  }
});

/** Everything the peer receives until the server ends the stream (or resets it). */
async function readToEnd(peer: RawPeer): Promise<string> {
  const bytes: number[] = [];
  for (let i = 0; i < 64; i++) {
    const byte = await peer.read(1);
    if (byte === null) return new TextDecoder().decode(new Uint8Array(bytes));
    bytes.push(byte[0]!);
  }
  assert.fail(`the server kept sending: ${bytes}`);
}

for (const api of SOCKET_APIS) {
  test(`a lines() echo server (${api}) answers CRLF, split characters and the last line`, async () => {
    await withEchoServer({ api, transport: "tcp" }, lines(), async ({ to, errors }) => {
      const peer = await RawPeer.connect((to as { port: number }).port);
      try {
        const wire = utf8("héllo\r\nwörld");
        // Split inside "é" and wait, so the server surely reads the character in two pieces.
        await peer.send(wire.subarray(0, 2));
        await sleep(20);
        await peer.send(wire.subarray(2));
        peer.socket.end();
        assert.equal(await readToEnd(peer), "héllo\nwörld\n");
        assert.deepEqual(errors, []);
      } finally {
        peer.close();
      }
    });
  });
}
