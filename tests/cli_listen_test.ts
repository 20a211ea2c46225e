// `framed listen` as a contract (the spec of issue 15): frames from `framed connect` and from a
// scriptable Python client printed on stdout, its own news on stderr, replies from stdin.

import { after, test } from "node:test";
import assert from "node:assert/strict";
import { Buffer } from "node:buffer";
import { join } from "node:path";
import {
  eventually,
  exitWithin,
  line,
  runCli,
  type Running,
  runtimeCommand,
  start,
  stderrMatch,
  type StdinSpec,
  stopCli as stop,
  tempDirs,
} from "./_process.ts";
import { tlsFixtures } from "./_tls_fixtures.ts";

const T = { timeout: 120_000 };
const PEER = "tests/peers/frame_script_peer.py";
const utf8 = new TextEncoder();
const dirs = tempDirs();
after(() => dirs.removeAll());

const hex = (body: Uint8Array | string) =>
  Buffer.from(typeof body === "string" ? utf8.encode(body) : body).toString("hex");

const escapeRegExp = (text: string) => text.replace(/[.*+?^${}()|[\]\\]/g, "\\$&");

/**
 * Starts `framed listen ARGS` and waits for its first stderr line, `listening on WHERE`; returns
 * it and WHERE (`127.0.0.1:PORT`, or the `unix:PATH` it was given).
 */
async function startListen(
  args: string[],
  stdin?: StdinSpec,
  listening = /^listening on (127\.0\.0\.1:\d+)\n/,
): Promise<[Running, string]> {
  const [command, prefix] = runtimeCommand("cli.ts");
  const listen = start(command, [...prefix, "listen", ...args], stdin);
  const match = await stderrMatch(listen, /^.*\n/);
  const first = listening.exec(match[0]);
  assert.ok(first, `first stderr line was ${JSON.stringify(match[0])}`);
  assert.deepEqual(listen.lines, [], "nothing on stdout but frames");
  return [listen, first[1]!];
}

const portOf = (where: string) => where.split(":")[1]!;

/** Starts `framed connect ARGS` with a stdin the test writes to (or the given bytes). */
function startConnect(args: string[], stdin: StdinSpec = "pipe"): Running {
  const [command, prefix] = runtimeCommand("cli.ts");
  return start(command, [...prefix, "connect", ...args], stdin);
}

/** Starts the Python peer as a client of `port` running `steps`; returns it and its label. */
async function scriptClient(
  port: string,
  steps: string[],
  jsonHeader = false,
): Promise<[Running, string]> {
  const client = start(
    "python3",
    [PEER, ...(jsonHeader ? ["--json-header"] : []), "client", port, ...steps],
    "pipe",
  );
  const first = await line(client, 0);
  const match = /^connected (\d+)$/.exec(first);
  assert.ok(match, `peer said ${JSON.stringify(first)}: ${client.stderr()}`);
  return [client, `127.0.0.1:${match[1]}`];
}

/** Waits for `count` stdout lines and returns them. */
async function lines(running: Running, count: number): Promise<string[]> {
  await line(running, count - 1);
  return running.lines.slice(0, count);
}

// ── With framed connect ──────────────────────────────────────────────────────────────────────────

test(
  "listen prints the frames framed connect sends on stdout, and its news on stderr",
  T,
  async () => {
    const [listen, where] = await startListen(["--framing", "length"]);
    try {
      const result = startConnect(
        ["--framing", "length", "--port", portOf(where)],
        "hello\n\nwörld\n",
      );
      // No reply ever comes: once connect's side ends, so does the connection, and connect.
      assert.equal(await exitWithin(result, 30_000, "connect"), 0, result.stderr());
      assert.deepEqual(await lines(listen, 3), ["hello", "", "wörld"]);
      const [, peer] = await stderrMatch(listen, /^connection from (127\.0\.0\.1:\d+)$/m);
      await stderrMatch(listen, new RegExp(`^${escapeRegExp(peer!)} closed$`, "m"));
      assert.doesNotMatch(listen.stderr(), /framed listen:/, "no error");
      // A connection still open does not hold listen up at SIGINT: exit 0, the client sees an end.
      const [idle, idlePeer] = await scriptClient(portOf(where), ["recv-eof"]);
      await stderrMatch(listen, new RegExp(`^connection from ${escapeRegExp(idlePeer)}$`, "m"));
      await stop(listen, "SIGINT");
      assert.equal(await exitWithin(idle, 30_000, "idle client"), 0, idle.stderr());
      assert.match(idle.lines.at(-1)!, /^(eof|reset)$/);
    } finally {
      listen.kill("SIGKILL");
    }
    assert.equal(listen.lines.length, 3, "stdout holds the frames only");
  },
);

test(
  "listen --reply-from-stdin sends stdin lines to connect, keeping them until it connects, and ends when stdin does",
  T,
  async () => {
    const [listen, where] = await startListen(
      ["--framing", "length", "--reply-from-stdin"],
      "pipe",
    );
    let client: Running | undefined;
    try {
      await listen.write("early\n"); // nobody is connected yet: it waits
      client = startConnect(["--framing", "length", "--port", portOf(where)]);
      assert.equal(await line(client, 0), "early");
      await listen.write("second\n\n");
      assert.equal(await line(client, 2), "", "an empty line is an empty frame");
      assert.equal(client.lines[1], "second");
      await client.write("up\n");
      assert.equal(await line(listen, 0), "up");
      // listen's stdin ends: it half-closes, so connect ends (its own stdin still open), and then
      // so does listen.
      await listen.endInput();
      assert.equal(await exitWithin(client, 30_000, "connect"), 0, client.stderr());
      assert.equal(await exitWithin(listen, 30_000, "listen"), 0, listen.stderr());
      assert.deepEqual(client.lines, ["early", "second", ""]);
      assert.deepEqual(listen.lines, ["up"]);
    } finally {
      client?.kill("SIGKILL");
      listen.kill("SIGKILL");
    }
  },
);

test(
  "listen --reply-from-stdin answers a client that has finished sending (echo req | framed connect)",
  T,
  async () => {
    const [listen, where] = await startListen(
      ["--framing", "length", "--once", "--reply-from-stdin"],
      "pipe",
    );
    let client: Running | undefined;
    try {
      // connect sends its one frame, then FIN at once, and waits for listen's end.
      client = startConnect(["--framing", "length", "--port", portOf(where)], "req\n");
      assert.equal(await line(listen, 0), "req");
      await stderrMatch(listen, /^127\.0\.0\.1:\d+ finished sending$/m);
      // The reply typed after the client's FIN still reaches it.
      await listen.write("resp\n");
      assert.equal(await line(client, 0), "resp");
      await listen.endInput();
      assert.equal(await exitWithin(client, 30_000, "connect"), 0, client.stderr());
      assert.equal(await exitWithin(listen, 30_000, "listen"), 0, listen.stderr());
      assert.deepEqual(client.lines, ["resp"]);
    } finally {
      client?.kill("SIGKILL");
      listen.kill("SIGKILL");
    }
  },
);

test(
  "listen --reply-from-stdin stopped by SIGINT does not take its clients for ones that finished sending",
  T,
  async () => {
    const [listen, where] = await startListen(
      ["--framing", "length", "--reply-from-stdin"],
      "pipe",
    );
    const client = startConnect(["--framing", "length", "--port", portOf(where)]);
    try {
      await client.write("up\n");
      assert.equal(await line(listen, 0), "up");
      await stop(listen, "SIGINT");
      // Stopping ends reading everywhere; no client has finished sending, and none is waited for.
      assert.doesNotMatch(listen.stderr(), /finished sending/);
      assert.equal(await exitWithin(client, 30_000, "connect"), 0, client.stderr());
    } finally {
      client.kill("SIGKILL");
      listen.kill("SIGKILL");
    }
  },
);

for (const transport of ["tcp", "unix"] as const) {
  test(
    `listen${
      transport === "unix" ? " --unix" : ""
    } prefixes each line with its peer while two connections are open, and only then`,
    T,
    async () => {
      const path = transport === "unix" ? join(dirs.make("framed-listen-"), "l.sock") : "";
      const [listen, where] = transport === "unix"
        ? await startListen(
          ["--framing", "length", "--unix", path],
          undefined,
          new RegExp(`^listening on (unix:${escapeRegExp(path)})\n`),
        )
        : await startListen(["--framing", "length"]);
      const target = transport === "unix" ? ["--unix", path] : ["--port", portOf(where)];
      const label = transport === "unix" ? "unix#\\d+" : "127\\.0\\.0\\.1:\\d+";
      const clients: Running[] = [];
      try {
        const peers: string[] = [];
        for (let i = 0; i < 2; i++) {
          clients.push(startConnect(["--framing", "length", ...target]));
          const connected = new RegExp(`^connection from (${label})$`, "gm");
          const opened = () => [...listen.stderr().matchAll(connected)].map((m) => m[1]!);
          await eventually(`connection ${i + 1} is reported`, () => opened().length > i);
          peers.push(opened()[i]!);
        }
        const [a, b] = [clients[0]!, clients[1]!];
        if (transport === "unix") assert.deepEqual(peers, ["unix#1", "unix#2"], "in accept order");
        await a.write("from a\n");
        assert.equal(await line(listen, 0), `${peers[0]} from a`);
        await b.write("from b\n");
        assert.equal(await line(listen, 1), `${peers[1]} from b`);
        await b.endInput();
        assert.equal(await exitWithin(b, 30_000, "connect b"), 0, b.stderr());
        await stderrMatch(listen, new RegExp(`^${escapeRegExp(peers[1]!)} closed$`, "m"));
        await a.write("alone\n");
        assert.equal(await line(listen, 2), "alone", "one connection open: no prefix");
        await a.endInput();
        assert.equal(await exitWithin(a, 30_000, "connect a"), 0, a.stderr());
      } finally {
        for (const client of clients) client.kill("SIGKILL");
        await stop(listen);
      }
      assert.equal(listen.lines.length, 3);
    },
  );
}

test("listen --once exits 0 once its one connection has ended", T, async () => {
  const [listen, where] = await startListen(["--framing", "length", "--once"]);
  try {
    const client = startConnect(["--framing", "length", "--port", portOf(where)], "x\n");
    assert.equal(await exitWithin(listen, 30_000, "listen --once"), 0, listen.stderr());
    assert.equal(await exitWithin(client, 30_000, "connect"), 0, client.stderr());
    assert.deepEqual(listen.lines, ["x"]);
  } finally {
    listen.kill("SIGKILL");
  }
});

test(
  "listen over TLS says (TLS) and prints what connect --tls sends",
  T,
  async () => {
    const { dir } = tlsFixtures();
    const [listen, where] = await startListen(
      [
        "--framing",
        "length",
        "--tls-cert",
        join(dir, "cert.pem"),
        "--tls-key",
        join(dir, "key.pem"),
      ],
      undefined,
      /^listening on (127\.0\.0\.1:\d+) \(TLS\)\n/,
    );
    try {
      const client = startConnect(
        ["--framing", "length", "--port", portOf(where), "--tls", "--ca", join(dir, "ca.pem")],
        "secret\n",
      );
      assert.equal(await line(listen, 0), "secret");
      assert.equal(await exitWithin(client, 30_000, "connect --tls"), 0, client.stderr());
      // The system's roots do not know the test CA: connect fails in one line, sends nothing.
      const refused = startConnect(
        ["--framing", "length", "--port", portOf(where), "--tls"],
        "x\n",
      );
      assert.equal(await exitWithin(refused, 30_000, "connect --tls, unknown CA"), 1);
      assert.deepEqual(refused.lines, []);
      assert.match(
        refused.stderr(),
        /^framed connect: [^\n]*TLS[^\n]*\n$/,
      );
      assert.deepEqual(listen.lines, ["secret"]);
    } finally {
      await stop(listen);
    }
  },
);

// ── With a Python client ─────────────────────────────────────────────────────────────────────────

test(
  "listen prints a Python client's non-UTF-8 and empty frames, escaped, and in hex",
  T,
  async () => {
    const bodies = [
      Uint8Array.of(0xff, 0xfe, 0x00, 0x5c, 0x0a, 0x41),
      new Uint8Array(0),
      utf8.encode("ok ✓"),
    ];
    const expected: Record<string, string[]> = {
      text: ["\\xff\\xfe\\x00\\\\\\nA", "", "ok ✓"],
      hex: ["fffe005c0a41", "", hex("ok ✓")],
    };
    for (const [output, want] of Object.entries(expected)) {
      const [listen, where] = await startListen(["--framing", "length", "--output", output]);
      try {
        const [client] = await scriptClient(portOf(where), [
          ...bodies.map((b) => `send:${hex(b)}`),
          "shut",
          "recv-eof",
        ]);
        assert.deepEqual(await lines(listen, 3), want, `--output ${output}`);
        assert.equal(await exitWithin(client, 30_000, "client"), 0, client.stderr());
        assert.equal(
          client.lines.at(-1),
          "eof",
          "listen closed the connection after the client's end",
        );
      } finally {
        await stop(listen);
      }
    }
  },
);

test(
  "listen --output json always names the peer, first, and the header with json-header",
  T,
  async () => {
    const runs: [string[], boolean, (peer: string) => unknown[]][] = [
      [["--framing", "length"], false, (peer) => [
        { peer, body: "hi" },
        { peer, body_base64: "//4=" },
        { peer, body: "" },
      ]],
      [["--framing", "json-header"], true, (peer) => [
        { peer, header: { data_size: 2 }, body: "hi" },
        { peer, header: { data_size: 2 }, body_base64: "//4=" },
        { peer, header: { data_size: 0 }, body: "" },
      ]],
    ];
    for (const [framing, jsonHeader, want] of runs) {
      const [listen, where] = await startListen([...framing, "--output", "json"]);
      try {
        const [client, peer] = await scriptClient(
          portOf(where),
          [`send:${hex("hi")}`, "send:fffe", "send:", "shut", "recv-eof"],
          jsonHeader,
        );
        const got: object[] = (await lines(listen, 3)).map((l) => JSON.parse(l));
        assert.deepEqual(got, want(peer), framing.join(" "));
        for (const object of got) {
          assert.deepEqual(
            Object.keys(object).slice(0, jsonHeader ? 2 : 1),
            jsonHeader ? ["peer", "header"] : ["peer"],
            "key order",
          );
        }
        assert.equal(await exitWithin(client, 30_000, "client"), 0, client.stderr());
      } finally {
        await stop(listen);
      }
    }
  },
);

test(
  "listen reports a client that announces a frame over --max-frame, closes it, and serves another",
  T,
  async () => {
    const [listen, where] = await startListen(["--framing", "length", "--max-frame", "100"]);
    const clients: Running[] = [];
    try {
      const [good, goodPeer] = await scriptClient(portOf(where), [
        `send:${hex("first")}`,
        "stdin",
        `send:${hex("second")}`,
        "shut",
        "recv-eof",
      ]);
      clients.push(good);
      assert.equal(await line(listen, 0), "first");
      // 4096 bytes announced, over --max-frame 100: the bytes after it are garbage.
      const [bad, badPeer] = await scriptClient(portOf(where), ["raw:00001000616263", "recv-eof"]);
      clients.push(bad);
      await stderrMatch(
        listen,
        new RegExp(`^framed listen: ${escapeRegExp(badPeer)}: \\S.*$`, "m"),
      );
      assert.equal(await exitWithin(bad, 30_000, "bad client"), 0, bad.stderr());
      assert.match(bad.lines.at(-1)!, /^(eof|reset)$/, "listen closed the bad connection");
      await good.write("\n");
      // The bad connection may be counted as open until listen has fully dropped it.
      assert.match(await line(listen, 1), new RegExp(`^(${escapeRegExp(goodPeer)} )?second$`));
      assert.equal(await exitWithin(good, 30_000, "good client"), 0, good.stderr());
      assert.deepEqual(good.lines.slice(1), ["eof"], "the good connection ended cleanly");
      assert.equal(listen.lines.length, 2, `no frame from the bad client: ${listen.lines}`);
    } finally {
      for (const client of clients) client.kill("SIGKILL");
      await stop(listen);
    }
  },
);

test(
  "listen --once exits 1 after its one connection fails; --reply-from-stdin --input hex replies",
  T,
  async () => {
    const [failing, failingWhere] = await startListen([
      "--framing",
      "length",
      "--once",
      "--max-frame",
      "10",
    ]);
    try {
      const [bad] = await scriptClient(portOf(failingWhere), ["raw:000000ff", "recv-eof"]);
      assert.equal(await exitWithin(failing, 30_000, "listen --once"), 1, failing.stderr());
      assert.match(failing.stderr(), /^framed listen: 127\.0\.0\.1:\d+: \S/m);
      await exitWithin(bad, 30_000, "bad client");
    } finally {
      failing.kill("SIGKILL");
    }
    const [replying, where] = await startListen(
      ["--framing", "length", "--once", "--reply-from-stdin", "--input", "hex"],
      "pipe",
    );
    try {
      const [client] = await scriptClient(portOf(where), ["recv-eof"]);
      await stderrMatch(replying, /^connection from /m);
      await replying.write("00FF\n\nde ad\n");
      await replying.endInput();
      assert.equal(await exitWithin(client, 30_000, "client"), 0, client.stderr());
      assert.deepEqual(client.lines.slice(1), ["frame 00ff", "frame ", "frame dead", "eof"]);
      assert.equal(await exitWithin(replying, 30_000, "listen"), 0, replying.stderr());
    } finally {
      replying.kill("SIGKILL");
    }
  },
);

test(
  "listen --reply-from-stdin --input base64 --header sends each stdin frame to every open connection",
  T,
  async () => {
    const [listen, where] = await startListen([
      "--framing",
      "json-header",
      "--reply-from-stdin",
      "--input",
      "base64",
      "--header",
      '{"from":"listen"}',
    ], "pipe");
    const clients: Running[] = [];
    try {
      for (let i = 1; i <= 2; i++) {
        clients.push((await scriptClient(portOf(where), ["recv-eof"], true))[0]);
        await eventually(
          `connection ${i} is reported`,
          () => listen.stderr().match(/^connection from /gm)?.length === i,
        );
      }
      await listen.write("aGk=\n\n//4\n");
      await listen.endInput();
      for (const [i, client] of clients.entries()) {
        assert.equal(await exitWithin(client, 30_000, `client ${i}`), 0, client.stderr());
        const got = client.lines.slice(1).map((l) => /^frame ([0-9a-f]*) (.*)$/.exec(l) ?? l);
        assert.equal(got.length, 4, `three frames, then eof: ${client.lines}`);
        assert.equal(got[3], "eof", "listen half-closed once its stdin ended");
        for (const [k, body] of ["6869", "", "fffe"].entries()) {
          const match = got[k] as RegExpExecArray;
          assert.equal(match[1], body, `client ${i}, frame ${k}`);
          assert.deepEqual(JSON.parse(match[2]!), { from: "listen", data_size: body.length / 2 });
        }
      }
      assert.equal(await exitWithin(listen, 30_000, "listen"), 0, listen.stderr());
    } finally {
      for (const client of clients) client.kill("SIGKILL");
      listen.kill("SIGKILL");
    }
  },
);

// ── Usage ────────────────────────────────────────────────────────────────────────────────────────

test(
  "listen refuses bad flags and values with exit 2, naming the flag, before listening",
  T,
  async () => {
    const length = ["--framing", "length"];
    const cases: [string[], RegExp][] = [
      [[...length, "--bogus"], /--bogus/],
      [[...length, "--output", "xml"], /--output/],
      [[...length, "--reply-from-stdin", "--input", "yaml"], /--input/],
      [[...length, "--reply-from-stdin", "--header", "{}"], /--header/], // needs json-header
      [["--framing", "json-header", "--reply-from-stdin", "--header", "[]"], /--header/],
      [[...length, "--port", "65536"], /--port/],
      [[], /--framing/],
    ];
    for (const [args, flag] of cases) {
      // A listen that got past its checks would not exit by itself: the kill makes the code a signal.
      const result = await runCli(["listen", ...args], 20_000);
      assert.equal(result.code, 2, `${args.join(" ")}: ${result.stderr}`);
      assert.match(result.stderr, /^framed listen: /, args.join(" "));
      assert.match(result.stderr.split("\n")[0]!, flag, args.join(" "));
      assert.doesNotMatch(result.stderr, /listening on/);
      assert.equal(result.stdout, "");
    }
  },
);

test("listen --help shows every flag of its own and examples", T, async () => {
  const help = await runCli(["listen", "--help"]);
  assert.equal(help.code, 0, help.stderr);
  for (
    const flag of [
      "--framing",
      "--port",
      "--unix",
      "--output",
      "--once",
      "--reply-from-stdin",
      "--input",
      "--header",
    ]
  ) {
    assert.match(help.stdout, new RegExp(`^\\s+${flag}\\b`, "m"), `a line for ${flag}`);
  }
  assert.match(help.stdout, /^examples:$/m);
  assert.match(help.stdout, /examples:\n(.*\n?){2,}/, "examples follow");
});
