// How `connect` and `listen` turn stdin into frames and frames into lines (cli/_frame_text.ts),
// in-process: every output form gives back the exact bytes, every input form refuses what it
// cannot decode, and stdin is never held beyond the frame limit.

import { test } from "node:test";
import { Buffer } from "node:buffer";
import assert from "node:assert/strict";
import { decodeAll, jsonHeader } from "../mod.ts";
import {
  compactJson,
  escapeText,
  formatFrame,
  framesFrom,
  headerFrom,
  InputError,
} from "../cli/_frame_text.ts";
import { UsageError } from "../cli/_flags.ts";
import { seededRandom } from "./_helpers.ts";

/** Reads `--output text` back into bytes by its rules (`\\ \n \r \t \xHH`, the rest UTF-8). */
function unescapeText(line: string): Uint8Array {
  const out: number[] = [];
  const simple: Record<string, number> = { "\\": 0x5c, n: 0x0a, r: 0x0d, t: 0x09 };
  for (let i = 0; i < line.length;) {
    if (line[i] !== "\\") {
      const char = String.fromCodePoint(line.codePointAt(i)!);
      out.push(...new TextEncoder().encode(char));
      i += char.length;
      continue;
    }
    const next = line[i + 1]!;
    if (next in simple) {
      out.push(simple[next]!);
      i += 2;
    } else {
      assert.equal(next, "x", `escape \\${next}`);
      out.push(parseInt(line.slice(i + 2, i + 4), 16));
      i += 4;
    }
  }
  return new Uint8Array(out);
}

// Byte strings that stress UTF-8: valid sequences of every length, a byte-order mark, overlong
// forms, encoded surrogates, code points past U+10FFFF, cut sequences, controls and backslashes.
const PIECES = [
  [0x68, 0x69],
  [0xef, 0xbb, 0xbf],
  [0xc3, 0xa9],
  [0xe4, 0xb8, 0xad],
  [0xf0, 0x9f, 0x98, 0x80],
  [0xc0, 0xaf],
  [0xe0, 0x80, 0xaf],
  [0xed, 0xa0, 0x80],
  [0xf4, 0x90, 0x80, 0x80],
  [0xf0, 0x9f, 0x98],
  [0xc2, 0x85],
  [0xef, 0xbf, 0xbd],
  [0x5c],
  [0x5c, 0x78, 0x34, 0x31],
  [0x00],
  [0x0a],
  [0x0d],
  [0x09],
  [0x7f],
  [0xff],
  [0x80],
];

function randomFrames(count: number, seed: number): Uint8Array[] {
  const random = seededRandom(seed);
  return Array.from({ length: count }, () => {
    const bytes: number[] = [];
    const pieces = Math.floor(random() * 8);
    for (let i = 0; i < pieces; i++) {
      if (random() < 0.3) bytes.push(Math.floor(random() * 256));
      else bytes.push(...PIECES[Math.floor(random() * PIECES.length)]!);
    }
    return new Uint8Array(bytes);
  });
}

test("--output text gives back the exact bytes of 5,000 frames full of UTF-8 traps, on one line each", () => {
  for (const frame of randomFrames(5000, 15)) {
    const line = formatFrame("text", frame);
    assert.ok(!/[\n\r]/.test(line), `one line: ${JSON.stringify(line)}`);
    assert.deepEqual(unescapeText(line), frame, JSON.stringify(line));
  }
});

test("a byte-order mark survives text and json output, at the start and after an escape", () => {
  const bom = [0xef, 0xbb, 0xbf];
  assert.equal(escapeText(new Uint8Array([...bom, 0x68, 0x69])), "\ufeffhi");
  assert.equal(escapeText(new Uint8Array([0x00, ...bom, 0x68])), "\\x00\ufeffh");
  assert.equal(formatFrame("json", new Uint8Array([...bom, 0x68, 0x69])), '{"body":"\ufeffhi"}');
});

test("C1 controls (U+0080–U+009F, U+009B is CSI to some terminals) are escaped in text output", () => {
  // U+009B, then U+00A0 (no-break space, printed as it is).
  assert.equal(escapeText(new Uint8Array([0xc2, 0x9b, 0xc2, 0xa0])), "\\xc2\\x9b\u00a0");
});

test("--output json gives back the exact bytes of 5,000 frames, as text when UTF-8 and base64 when not", () => {
  for (const frame of randomFrames(5000, 16)) {
    const parsed = JSON.parse(formatFrame("json", frame, "127.0.0.1:9"));
    assert.equal(parsed.peer, "127.0.0.1:9");
    const back = "body" in parsed
      ? new TextEncoder().encode(parsed.body)
      : new Uint8Array(Buffer.from(parsed.body_base64, "base64"));
    assert.deepEqual(back, frame);
  }
});

test("a received JSON header is printed as the text it arrived as, compacted to one line", () => {
  const json = '{"data_size": 2,\n "id": 12345678901234567891, "f": 1.0, "s": "a b\\" \\n"}';
  const bytes = new TextEncoder().encode(json);
  const wire = new Uint8Array([0, 0, 0, bytes.length, ...bytes, 0x68, 0x69]);
  const [frame] = decodeAll(jsonHeader(), wire);
  const header = '{"data_size":2,"id":12345678901234567891,"f":1.0,"s":"a b\\" \\n"}';
  assert.equal(formatFrame("text", frame!), `${header} hi`);
  assert.equal(formatFrame("hex", frame!), `${header} 6869`);
  assert.equal(formatFrame("json", frame!), `{"header":${header},"body":"hi"}`);
  assert.equal(compactJson('{ "a" : [ 1 , "x  y" ] }'), '{"a":[1,"x  y"]}');
  // A byte-order mark before the header (JSON.parse accepted it) would make a json line invalid;
  // DEL, C1 and bidi controls inside strings are written as escapes of the same value.
  const hostile = '\ufeff{"a": "\u007f\u009b\u202e", "b\\"": 1}';
  assert.equal(compactJson(hostile), '{"a":"\\u007f\\u009b\\u202e","b\\"":1}');
  assert.deepEqual(JSON.parse(compactJson(hostile)), JSON.parse(hostile.slice(1)));
});

test("--header goes out as typed, its size field first; data_size or another framing is refused", () => {
  const { header, stringify } = headerFrom('{"id": 12345678901234567891, "f": 1.0}', "json-header");
  const codec = jsonHeader({ stringify });
  const wire = codec.encode({ header, body: new Uint8Array([1, 2]) });
  const text = new TextDecoder().decode(wire.subarray(4, wire.length - 2));
  assert.equal(text, '{"data_size": 2, "id": 12345678901234567891, "f": 1.0}');
  assert.equal(headerFrom("{}", "json-header").stringify!({ data_size: 0 }), '{"data_size": 0}');
  assert.throws(() => headerFrom('{"data_size": 2}', "json-header"), UsageError);
  assert.throws(() => headerFrom("[1]", "json-header"), UsageError);
  assert.throws(() => headerFrom("{", "json-header"), UsageError);
  assert.throws(() => headerFrom("{}", "length"), UsageError);
});

/** stdin as these chunks. */
async function* chunks(...parts: (string | number[])[]): AsyncGenerator<Uint8Array> {
  for (const part of parts) {
    yield typeof part === "string" ? new TextEncoder().encode(part) : new Uint8Array(part);
  }
}

/** Every frame `framesFrom` yields, and the error it ends with (or null). */
async function collect(
  source: AsyncIterable<Uint8Array>,
  mode: "lines" | "raw" | "hex" | "base64",
  maxFrame = 1024,
): Promise<[string[], unknown]> {
  const frames: string[] = [];
  try {
    for await (const batch of framesFrom(source, mode, maxFrame)) {
      for (const frame of batch) frames.push(Buffer.from(frame).toString("hex"));
    }
  } catch (error) {
    return [frames, error];
  }
  return [frames, null];
}

test("stdin lines become frames byte for byte, split anywhere, CR before LF dropped", async () => {
  const hex = (text: string) => Buffer.from(text).toString("hex");
  assert.deepEqual(await collect(chunks("a\n\nb\r", "\nc"), "lines"), [
    [hex("a"), "", hex("b"), hex("c")],
    null,
  ]);
  assert.deepEqual(await collect(chunks([0xff, 0x0a, 0x80]), "lines"), [["ff", "80"], null]);
  assert.deepEqual(await collect(chunks(""), "lines"), [[], null]);
  assert.deepEqual(await collect(chunks("\n"), "lines"), [[""], null]);
  assert.deepEqual(await collect(chunks(), "raw"), [[""], null]);
  assert.deepEqual(await collect(chunks("a\n", "b"), "raw"), [[hex("a\nb")], null]);
});

test("hex and base64 lines decode, and a bad line ends stdin after the lines before it", async () => {
  assert.deepEqual(await collect(chunks("DE ad\tbe EF\n\n"), "hex"), [["deadbeef", ""], null]);
  const [good, error] = await collect(chunks("4142\nzz\n4344\n"), "hex");
  assert.deepEqual(good, ["4142"]);
  assert.ok(error instanceof InputError && error.message === "stdin line 2: not hex");
  assert.deepEqual(await collect(chunks("aGk=\naGk\n_-8\n"), "base64"), [
    ["6869", "6869", "ffef"],
    null,
  ]);
  // Wrong padding, bits past the last byte, two alphabets, one character too many.
  for (const bad of ["aGk==", "aR==", "+_8", "aGkx=", "a"]) {
    const [, refused] = await collect(chunks(`${bad}\n`), "base64");
    assert.ok(refused instanceof InputError, `${bad} refused`);
  }
});

test("stdin that would make a frame over --max-frame is refused before it is held", async () => {
  // An endless line: refused once it passes the limit, never read to its end.
  async function* endless(): AsyncGenerator<Uint8Array> {
    for (let i = 0; i < 1000; i++) yield new Uint8Array(64).fill(0x61);
    assert.fail("read past the limit");
  }
  const [frames, error] = await collect(endless(), "lines", 1000);
  assert.deepEqual(frames, []);
  assert.equal(
    (error as Error).message,
    "stdin line 1 is longer than --max-frame allows (1000 bytes)",
  );
  const [, raw] = await collect(endless(), "raw", 1000);
  assert.equal((raw as Error).message, "stdin is longer than --max-frame allows (1000 bytes)");
  // The limit itself, with its CR, passes.
  const exact = "a".repeat(1000);
  assert.equal((await collect(chunks(`${exact}\r\n`), "lines", 1000))[0][0]!.length, 2000);
});
