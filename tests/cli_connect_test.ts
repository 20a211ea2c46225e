// `framed connect` as a contract (the spec of issue 15): stdin turned into frames, frames printed
// as lines, and how it ends, checked against a scriptable Python peer that sends and records the
// exact bytes on the wire.

import { test } from "node:test";
import assert from "node:assert/strict";
import { Buffer } from "node:buffer";
import { type AddressInfo, createServer } from "node:net";
import {
  exitWithin,
  line,
  runCli,
  type Running,
  runtimeCommand,
  start,
  type StdinSpec,
} from "./_process.ts";

const T = { timeout: 120_000 };
const PEER = "tests/peers/frame_script_peer.py";
const utf8 = new TextEncoder();

/** Bytes from text (as UTF-8) and byte values, in order. */
function bytes(...parts: (string | number[])[]): Uint8Array {
  return new Uint8Array(parts.flatMap((p) => typeof p === "string" ? [...utf8.encode(p)] : p));
}

const hex = (body: Uint8Array | string) =>
  Buffer.from(typeof body === "string" ? utf8.encode(body) : body).toString("hex");

/**
 * Starts the Python peer as a server running `steps` (see the peer's docstring); returns it and
 * its port.
 */
async function scriptServer(
  steps: string[],
  jsonHeader = false,
  stdin?: "pipe",
): Promise<[Running, string]> {
  const server = start("python3", [
    PEER,
    ...(jsonHeader ? ["--json-header"] : []),
    "server",
    ...steps,
  ], stdin);
  const first = await line(server, 0);
  const match = /^port (\d+)$/.exec(first);
  assert.ok(match, `peer said ${JSON.stringify(first)}: ${server.stderr()}`);
  return [server, match[1]!];
}

/** What the peer printed after its port line, once it has exited. */
async function peerLog(server: Running): Promise<string[]> {
  const timer = setTimeout(() => server.kill("SIGKILL"), 30_000);
  await server.exited;
  clearTimeout(timer);
  return server.lines.slice(1);
}

interface Ran {
  code: number | string;
  lines: string[];
  stderr: string;
}

/** Runs `framed connect ARGS` with `stdin` to its end (killed after `ms`); stdout as lines. */
async function connect(args: string[], stdin?: StdinSpec, ms = 30_000): Promise<Ran> {
  const [command, prefix] = runtimeCommand("cli.ts");
  const running = start(command, [...prefix, "connect", ...args], stdin);
  const timer = setTimeout(() => running.kill("SIGKILL"), ms);
  const code = await running.exited;
  clearTimeout(timer);
  return { code, lines: running.lines, stderr: running.stderr() };
}

/** Starts `framed connect ARGS` with a stdin the test writes to. */
function startConnect(args: string[]): Running {
  const [command, prefix] = runtimeCommand("cli.ts");
  return start(command, [...prefix, "connect", ...args], "pipe");
}

/** Asserts a failure: exit 1 and exactly one stderr line, `framed connect: …`. */
function assertOneLineFailure(result: Ran, what: string): void {
  assert.equal(result.code, 1, `${what}: exit code; stderr: ${result.stderr}`);
  const errors = result.stderr.trimEnd().split("\n");
  assert.equal(errors.length, 1, `${what}: one stderr line, got ${JSON.stringify(result.stderr)}`);
  assert.match(errors[0]!, /^framed connect: \S/, what);
}

const length = (port: string) => ["--framing", "length", "--port", port];

// ── stdin → frames ────────────────────────────────────────────────────────────────────────────────

test(
  "connect sends each stdin line as one frame, byte for byte: empty lines, CRLF and non-UTF-8 too",
  T,
  async () => {
    const [server, port] = await scriptServer(["recv-eof"]);
    const stdin = bytes(
      "a\n",
      "\n",
      "b\r\n",
      "x\r\r\n",
      [0x63, 0xff, 0xfe, 0x20, 0x80, 0x0a],
      "wörld 漢字\n",
      "\t tab \n",
      "last",
    );
    const result = await connect(length(port), stdin);
    assert.equal(result.code, 0, result.stderr);
    assert.deepEqual(result.lines, [], "the peer sent nothing back");
    assert.deepEqual(await peerLog(server), [
      `frame ${hex("a")}`,
      "frame ",
      `frame ${hex("b")}`,
      `frame ${hex("x\r")}`,
      "frame 63fffe2080",
      `frame ${hex("wörld 漢字")}`,
      `frame ${hex("\t tab ")}`,
      `frame ${hex("last")}`,
      "eof",
    ]);
  },
);

test(
  "connect sends no frame for empty stdin, and one empty frame for a lone newline",
  T,
  async () => {
    for (const [stdin, frames] of [["", []], ["\n", ["frame "]]] as const) {
      const [server, port] = await scriptServer(["recv-eof"]);
      const result = await connect(length(port), stdin);
      assert.equal(result.code, 0, `${JSON.stringify(stdin)}: ${result.stderr}`);
      assert.deepEqual(await peerLog(server), [...frames, "eof"], JSON.stringify(stdin));
    }
  },
);

test(
  "connect --input raw sends all of stdin as one frame, and empty stdin as an empty frame",
  T,
  async () => {
    const all = bytes([0, 1, 0x0a, 0xff, 0x0d, 0x0a], "end\n", "\n");
    for (const stdin of [all, ""]) {
      const [server, port] = await scriptServer(["recv-eof"]);
      const result = await connect([...length(port), "--input", "raw"], stdin);
      assert.equal(result.code, 0, result.stderr);
      assert.deepEqual(await peerLog(server), [`frame ${hex(stdin)}`, "eof"]);
    }
  },
);

test("connect --input hex and --input base64 decode each line into one frame", T, async () => {
  const cases: [string, string, string[]][] = [
    ["hex", "48656C6C6f\n\nde ad\tBE EF\n00", [hex("Hello"), "", "deadbeef", "00"]],
    [
      "base64",
      "aGVsbG8=\naGVsbG8\n\n+/8=\n-_8\nAA==",
      [hex("hello"), hex("hello"), "", "fbff", "fbff", "00"],
    ],
  ];
  for (const [input, stdin, frames] of cases) {
    const [server, port] = await scriptServer(["recv-eof"]);
    const result = await connect([...length(port), "--input", input], stdin);
    assert.equal(result.code, 0, `--input ${input}: ${result.stderr}`);
    assert.deepEqual(
      await peerLog(server),
      [...frames.map((f) => `frame ${f}`), "eof"],
      `--input ${input}`,
    );
  }
});

test(
  "connect sends the lines before one that is not hex or base64, prints their replies, then exits 1 naming it",
  T,
  async () => {
    const cases: [string, string, string, string[]][] = [
      ["hex", "6869\n\nabc\n6869\n", "stdin line 3: not hex", ["hi", ""]], // odd length
      ["hex", "6869\nzz\n", "stdin line 2: not hex", ["hi"]],
      ["base64", "aGk=\n*&^\naGk=\n", "stdin line 2: not base64", ["hi"]],
    ];
    for (const [input, stdin, message, before] of cases) {
      const [server, port] = await scriptServer(["echo"]);
      const result = await connect([...length(port), "--input", input], stdin);
      assertOneLineFailure(result, `--input ${input} ${JSON.stringify(stdin)}`);
      assert.equal(result.stderr.trimEnd(), `framed connect: ${message}`);
      assert.deepEqual(result.lines, before, "the replies to the lines before it");
      // Those lines, then connect's end: nothing after the bad line goes out.
      assert.deepEqual(await peerLog(server), [...before.map((b) => `frame ${hex(b)}`), "eof"]);
    }
  },
);

// ── frames → stdout ───────────────────────────────────────────────────────────────────────────────

/** Bodies the peer sends, each with its line in `--output text`. */
const SHOWCASE: [Uint8Array, string][] = [
  [bytes("hello"), "hello"],
  [bytes(), ""],
  [bytes([0xff, 0xfe], "a"), "\\xff\\xfea"],
  [bytes([0x00, 0x01, 0x1f, 0x7f, 0x1b], "[0m"), "\\x00\\x01\\x1f\\x7f\\x1b[0m"],
  [bytes("a\tb\rc\nd\r\n"), "a\\tb\\rc\\nd\\r\\n"],
  [bytes("back\\slash \\x41 \\n"), "back\\\\slash \\\\x41 \\\\n"],
  [bytes("wörld 漢字 🎉 \u{fffd}"), "wörld 漢字 🎉 \u{fffd}"], // valid UTF-8, U+FFFD included
  [bytes([0xe2, 0x82], "x"), "\\xe2\\x82x"], // a cut 3-byte sequence
  [bytes([0xc0, 0xaf]), "\\xc0\\xaf"], // overlong
  [bytes([0xed, 0xa0, 0x80]), "\\xed\\xa0\\x80"], // a UTF-16 surrogate
  [bytes("é", [0xf0, 0x9f, 0x8e]), "é\\xf0\\x9f\\x8e"], // cut at the end of the frame
];
const ALL_BYTES = new Uint8Array(256).map((_, i) => i);
// In order, no run of bytes from 0x80 up is valid UTF-8: each is escaped on its own.
const ALL_BYTES_TEXT = [...ALL_BYTES].map((b) =>
  ({ 0x09: "\\t", 0x0a: "\\n", 0x0d: "\\r", 0x5c: "\\\\" } as Record<number, string>)[b] ??
    (b >= 0x20 && b < 0x7f ? String.fromCharCode(b) : `\\x${b.toString(16).padStart(2, "0")}`)
).join("");

/** Undoes `--output text`'s escaping; fails on anything the spec does not produce. */
function unescapeText(text: string): Uint8Array {
  const out: number[] = [];
  const simple: Record<string, number> = { "\\": 0x5c, n: 0x0a, r: 0x0d, t: 0x09 };
  for (let i = 0; i < text.length; i++) {
    const code = text.codePointAt(i)!;
    assert.ok(code >= 0x20 && code !== 0x7f, `raw control character in ${JSON.stringify(text)}`);
    if (text[i] !== "\\") {
      const char = String.fromCodePoint(code);
      out.push(...utf8.encode(char));
      i += char.length - 1;
      continue;
    }
    const next = text[++i] ?? "";
    if (next === "x") {
      assert.match(text.slice(i + 1, i + 3), /^[0-9a-f]{2}$/, `\\x in ${JSON.stringify(text)}`);
      out.push(parseInt(text.slice(i + 1, i + 3), 16));
      i += 2;
    } else {
      assert.ok(next in simple, `unknown escape \\${next} in ${JSON.stringify(text)}`);
      out.push(simple[next]!);
    }
  }
  return new Uint8Array(out);
}

function isUtf8(body: Uint8Array): boolean {
  try {
    new TextDecoder("utf-8", { fatal: true }).decode(body);
    return true;
  } catch {
    return false;
  }
}

/** Each body's expected line per `--output` mode (json as the parsed object). */
const EXPECTED: Record<string, (body: Uint8Array, text: string) => unknown> = {
  text: (_, text) => text,
  hex: (body) => Buffer.from(body).toString("hex"),
  base64: (body) => Buffer.from(body).toString("base64"),
  json: (body) =>
    isUtf8(body)
      ? { body: new TextDecoder().decode(body) }
      : { body_base64: Buffer.from(body).toString("base64") },
};

for (const output of Object.keys(EXPECTED)) {
  test(
    `connect --output ${output} prints one line per frame: empty, non-UTF-8, control bytes, all 256 bytes`,
    T,
    async () => {
      const bodies = [...SHOWCASE.map(([body]) => body), ALL_BYTES];
      const [server, port] = await scriptServer([
        ...bodies.map((body) => `send:${hex(body)}`),
        "recv-eof",
      ]);
      const result = await connect([...length(port), "--output", output]);
      assert.equal(result.code, 0, result.stderr);
      assert.equal(result.lines.length, bodies.length, `one line per frame: ${result.lines}`);
      for (const [i, [body, text]] of SHOWCASE.entries()) {
        const got = output === "json" ? JSON.parse(result.lines[i]!) : result.lines[i];
        assert.deepEqual(got, EXPECTED[output]!(body, text), `frame ${i} (${hex(body)})`);
      }
      const last = result.lines.at(-1)!;
      if (output === "text") {
        // Reversible: every line turns back into the exact frame.
        for (const [i, body] of bodies.entries()) {
          assert.deepEqual(unescapeText(result.lines[i]!), body, `frame ${i} back from text`);
        }
        assert.equal(last, ALL_BYTES_TEXT, "all 256 bytes, in order");
      } else if (output === "json") {
        assert.deepEqual(JSON.parse(last), EXPECTED.json!(ALL_BYTES, ""));
      } else assert.equal(last, EXPECTED[output]!(ALL_BYTES, ""));
      assert.deepEqual(await peerLog(server), ["eof"]);
    },
  );
}

// ── json-header framing ───────────────────────────────────────────────────────────────────────────

/** A json-header frame exactly as given: u32be header length, the header text, the body. */
function jsonHeaderFrame(header: string, body: Uint8Array): string {
  const head = utf8.encode(header);
  const size = Buffer.alloc(4);
  size.writeUInt32BE(head.length);
  return hex(bytes([...size], [...head], [...body]));
}

for (
  const [output, extra, expected, header] of [
    [
      "text",
      [],
      ['{"data_size":2,"name":"x"} hi', '{"data_size":2} \\xff\\xfe', '{"data_size":0} '],
      {},
    ],
    [
      "hex",
      ["--header", '{"name":"x"}'],
      ['{"data_size":2,"name":"x"} 6869', '{"data_size":2} fffe', '{"data_size":0} '],
      { name: "x" },
    ],
    [
      "base64",
      ["--header", '{"n":[1,2]}'],
      ['{"data_size":2,"name":"x"} aGk=', '{"data_size":2} //4=', '{"data_size":0} '],
      { n: [1, 2] },
    ],
    [
      "json",
      ["--header", '{"name":"é"}'],
      [
        '{"header":{"data_size":2,"name":"x"},"body":"hi"}',
        '{"header":{"data_size":2},"body_base64":"//4="}',
        '{"header":{"data_size":0},"body":""}',
      ],
      { name: "é" },
    ],
  ] as const
) {
  test(
    `connect --framing json-header --output ${output}${
      extra.length > 0 ? " --header" : ""
    } prints HEADER BODY and sends --header with each body`,
    T,
    async () => {
      const [server, port] = await scriptServer([
        // Python's json.dumps spacing; connect prints the header compact.
        `raw:${jsonHeaderFrame('{"data_size": 2, "name": "x"}', bytes("hi"))}`,
        `raw:${jsonHeaderFrame('{"data_size": 2}', bytes([0xff, 0xfe]))}`,
        `raw:${jsonHeaderFrame('{"data_size": 0}', bytes())}`,
        "recv-eof",
      ], true);
      const result = await connect(
        ["--framing", "json-header", "--port", port, "--output", output, ...extra],
        "hi\n\n",
      );
      assert.equal(result.code, 0, result.stderr);
      if (output === "json") {
        const got = result.lines.map((l) => JSON.parse(l));
        assert.deepEqual(got, expected.map((l) => JSON.parse(l)));
        for (const object of got) {
          assert.equal(Object.keys(object)[0], "header", `"header" comes first: ${result.lines}`);
        }
      } else assert.deepEqual(result.lines, expected);
      const log = await peerLog(server);
      assert.equal(log.length, 3, `two frames, then eof: ${log}`);
      assert.equal(log[2], "eof");
      for (const [i, body] of ["hi", ""].entries()) {
        const match = /^frame ([0-9a-f]*) (.*)$/.exec(log[i]!);
        assert.ok(match, log[i]);
        assert.equal(match[1], hex(body));
        assert.deepEqual(JSON.parse(match[2]!), { ...header, data_size: body.length });
      }
    },
  );
}

// ── How it ends ──────────────────────────────────────────────────────────────────────────────────

test(
  "connect half-closes once stdin ends and prints replies until the server closes, then exits 0",
  T,
  async () => {
    // The peer echoes until it sees connect's FIN, then sends one more frame and closes.
    const [server, port] = await scriptServer(["echo", `send:${hex("bye")}`, "close"]);
    const result = await connect(length(port), "one\ntwo\n");
    assert.equal(result.code, 0, result.stderr);
    assert.deepEqual(result.lines, ["one", "two", "bye"], "the frame sent after the FIN too");
    assert.equal(result.stderr, "");
    assert.deepEqual(await peerLog(server), [`frame ${hex("one")}`, `frame ${hex("two")}`, "eof"]);
  },
);

for (const how of ["shut", "close"]) {
  test(
    `connect exits 0 at once when the server ${
      how === "shut" ? "half-closes" : "closes"
    } while its stdin is still open`,
    T,
    async () => {
      const [server, port] = await scriptServer([
        "recv:1",
        `send:${hex("pong")}`,
        how,
        ...(how === "shut" ? ["recv-eof"] : []),
      ]);
      const client = startConnect(length(port));
      try {
        await client.write("ping\n");
        assert.equal(await line(client, 0), "pong");
        // stdin is never ended: the server's end alone ends connect.
        assert.equal(await exitWithin(client, 20_000, "connect"), 0, client.stderr());
        assert.deepEqual(client.lines, ["pong"]);
        assert.equal(client.stderr(), "");
        assert.equal((await peerLog(server))[0], `frame ${hex("ping")}`);
      } finally {
        client.kill("SIGKILL");
      }
    },
  );
}

test(
  "connect exits 1, naming what it held, when the server has ended and stdin pauses inside a line",
  T,
  async () => {
    const [server, port] = await scriptServer([`send:${hex("bye")}`, "shut", "recv-eof"]);
    const client = startConnect(length(port));
    try {
      // A line without its LF, and stdin kept open: those 3 bytes can never become a frame.
      await client.write("abc");
      assert.equal(await exitWithin(client, 20_000, "connect"), 1, client.stderr());
      assert.deepEqual(client.lines, ["bye"]);
      assert.equal(
        client.stderr(),
        "framed connect: the server closed the connection and stdin paused with 3 bytes of an " +
          "unfinished frame unsent\n",
      );
      await peerLog(server);
    } finally {
      client.kill("SIGKILL");
    }
  },
);

test(
  "connect --wait MS sends no FIN and exits 0 when the server stays quiet that long",
  T,
  async () => {
    // The peer echoes; only a FIN from connect would make it send "after-fin".
    const [server, port] = await scriptServer(["echo", `send:${hex("after-fin")}`, "close"]);
    // stdin ends only once both replies are in: the wait starts from there, however slow the
    // machine.
    const client = startConnect([...length(port), "--wait", "1000"]);
    await client.write("a\nb\n");
    await line(client, 1);
    await client.endInput();
    assert.equal(await exitWithin(client, 30_000, "connect --wait"), 0, client.stderr());
    assert.deepEqual(client.lines, ["a", "b"], "the replies, and no FIN was sent");
    assert.equal(
      (await peerLog(server)).slice(0, 2).join(" "),
      `frame ${hex("a")} frame ${hex("b")}`,
    );
  },
);

test("connect --wait exits 0 before MS when the server closes the connection", T, async () => {
  const [server, port] = await scriptServer(["recv:1", `send:${hex("done")}`, "close"]);
  const result = await connect([...length(port), "--wait", "2147483647"], "q\n", 20_000);
  assert.equal(result.code, 0, result.stderr);
  assert.deepEqual(result.lines, ["done"]);
  await peerLog(server);
});

test(
  "connect prints every complete frame, then exits 1 with one line when the server closes mid-frame",
  T,
  async () => {
    const [server, port] = await scriptServer([
      `send:${hex("ok")}`,
      "send:",
      "raw:0000000a6162", // 10 bytes announced, 2 sent
      "close",
    ]);
    const result = await connect(length(port));
    assert.deepEqual(result.lines, ["ok", ""], "both complete frames, the empty one included");
    assertOneLineFailure(result, "closed mid-frame");
    await peerLog(server);
  },
);

test(
  "connect exits 1 with one line on a frame over --max-frame, after the frames before it",
  T,
  async () => {
    const [server, port] = await scriptServer([
      `send:${hex("ok")}`,
      `send:${hex("a".repeat(200))}`,
      "recv-eof",
    ]);
    const result = await connect([...length(port), "--max-frame", "100"]);
    assert.deepEqual(result.lines, ["ok"]);
    assertOneLineFailure(result, "--max-frame 100");
    await peerLog(server);
  },
);

test("connect exits 1 with one line when the server resets the connection", T, async () => {
  const [server, port] = await scriptServer([`send:${hex("ok")}`, "stdin", "reset"], false, "pipe");
  const client = startConnect(length(port));
  try {
    assert.equal(await line(client, 0), "ok");
    await server.write("\n");
    const code = await exitWithin(client, 20_000, "connect after a reset");
    assertOneLineFailure({ code, lines: client.lines, stderr: client.stderr() }, "reset");
    assert.deepEqual(client.lines, ["ok"]);
    await peerLog(server);
  } finally {
    client.kill("SIGKILL");
    server.kill("SIGKILL");
  }
});

test("connect exits 1 with one line when the connection is refused", T, async () => {
  const closed = createServer();
  await new Promise<void>((resolve) => closed.listen(0, "127.0.0.1", resolve));
  const { port } = closed.address() as AddressInfo;
  await new Promise((resolve) => closed.close(resolve));
  const result = await connect(length(String(port)), "x\n");
  assert.deepEqual(result.lines, []);
  assertOneLineFailure(result, "refused");
});

test(
  "connect stops quietly with exit 141, as SIGPIPE would, when its stdout is closed early (| head -n 1)",
  T,
  async () => {
    const body = "a".repeat(100);
    const [server, port] = await scriptServer([`many:20000:${hex(body)}`, "shut", "recv-eof"]);
    const [command, prefix] = runtimeCommand("cli.ts");
    // `framed connect … | head -n 1`, with connect's own exit code and stderr.
    const pipeline = start("bash", [
      "-c",
      '"$@" | head -n 1; exit "${PIPESTATUS[0]}"',
      "bash",
      command,
      ...prefix,
      "connect",
      ...length(port),
    ]);
    const code = await exitWithin(pipeline, 30_000, "connect | head -n 1");
    assert.deepEqual(pipeline.lines, [body]);
    assert.equal(pipeline.stderr(), "", "nothing on stderr");
    assert.equal(code, 141);
    await peerLog(server);
  },
);

// ── Usage ────────────────────────────────────────────────────────────────────────────────────────

test(
  "connect refuses bad flags and values with exit 2, naming the flag, before connecting",
  T,
  async () => {
    // Port 1: nothing listens there, so a check made after connecting would exit 1, not 2.
    const lengthArgs = length("1");
    const jsonArgs = ["--framing", "json-header", "--port", "1"];
    const cases: [string[], RegExp][] = [
      [[...lengthArgs, "--bogus"], /--bogus/],
      [[...lengthArgs, "--input", "yaml"], /--input/],
      [[...lengthArgs, "--output", "xml"], /--output/],
      [[...lengthArgs, "--wait", "-1"], /--wait/],
      [[...lengthArgs, "--wait", "1.5"], /--wait/],
      [[...lengthArgs, "--wait", "2147483648"], /--wait/],
      [[...lengthArgs, "--header", "{}"], /--header/], // --header needs json-header framing
      [[...jsonArgs, "--header", "[1]"], /--header/],
      [[...jsonArgs, "--header", "null"], /--header/],
      [[...jsonArgs, "--header", "{nope"], /--header/],
      [["--port", "1"], /--framing/],
      [["--framing", "length"], /--port/],
    ];
    for (const [args, flag] of cases) {
      const result = await connect(args, "x\n");
      assert.equal(result.code, 2, `${args.join(" ")}: ${result.stderr}`);
      assert.match(result.stderr, /^framed connect: /, args.join(" "));
      assert.match(result.stderr.split("\n")[0]!, flag, args.join(" "));
      assert.deepEqual(result.lines, [], "nothing on stdout");
    }
  },
);

test(
  "connect --help shows every flag of its own and examples; framed --help lists it",
  T,
  async () => {
    const help = await runCli(["connect", "--help"]);
    assert.equal(help.code, 0, help.stderr);
    for (
      const flag of ["--framing", "--port", "--unix", "--input", "--output", "--header", "--wait"]
    ) {
      assert.match(help.stdout, new RegExp(`^\\s+${flag}\\b`, "m"), `a line for ${flag}`);
    }
    assert.match(help.stdout, /^examples:$/m);
    assert.match(help.stdout, /examples:\n(.*\n?){2,}/, "examples follow");
    const usage = await runCli(["--help"]);
    assert.equal(usage.code, 0);
    assert.match(usage.stdout, /^\s+connect\s+\S/m);
    assert.match(usage.stdout, /^\s+listen\s+\S/m);
  },
);
