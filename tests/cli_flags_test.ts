// Every numeric flag of every command: a bad value is a usage error (exit 2) that names the flag,
// before anything listens, connects or runs.

import { test } from "node:test";
import assert from "node:assert/strict";
import { Buffer } from "node:buffer";
import { join } from "node:path";
import { runCli, startCli, stopCli } from "./_process.ts";
import { RawPeer } from "./_raw_peer.ts";
import { tlsFixtures } from "./_tls_fixtures.ts";

/** What each command needs besides the flag under test, so that only that flag can be wrong. */
const COMMANDS: Record<string, { base: string[]; flags: string[] }> = {
  echo: {
    base: ["echo", "--framing", "length"],
    flags: ["port", "max-frame", "length-offset", "strip"],
  },
  send: {
    base: ["send", "--framing", "length", "--port", "9"],
    flags: ["port", "max-frame", "length-offset", "strip"],
  },
  "exec-server": {
    base: ["exec-server"],
    flags: ["port", "timeout", "max-output", "max-concurrent"],
  },
  exec: { base: ["exec", "--port", "9", "--", "true"], flags: ["port"] },
  "file-server": { base: ["file-server", "--dir", "."], flags: ["port", "max-size"] },
  put: { base: ["put", "--port", "9", "cli.ts"], flags: ["port"] },
  get: { base: ["get", "--port", "9", "x", "--out", "/nonexistent/x"], flags: ["port"] },
  // Their framing flags are echo's and send's (the same code): only their own are tried here.
  connect: { base: ["connect", "--framing", "length", "--port", "9"], flags: ["port", "wait"] },
  listen: { base: ["listen", "--framing", "length"], flags: ["port"] },
};

/** Values no flag accepts, and the values each flag refuses for its range. */
const ALWAYS_BAD = ["", "abc", "10s", "-1", "1.5", "1e3", "0x10", "99999999999999999999"];
const OUT_OF_RANGE: Record<string, string[]> = {
  port: ["65536"],
  "max-frame": [],
  "length-offset": ["9007199254740992"],
  strip: ["9007199254740992"],
  timeout: ["0", "86401"],
  "max-output": ["268435457"],
  "max-concurrent": ["0", "1025"],
  "max-size": ["9007199254740992"],
  wait: ["2147483648"],
};

const cases: { command: string; flag: string; value: string }[] = [];
for (const [command, { flags }] of Object.entries(COMMANDS)) {
  for (const flag of flags) {
    // Clients need a real port: 0 is refused there, while servers take it as "any free port".
    const server = command.endsWith("server") || command === "echo" || command === "listen";
    const extra = flag === "port" && !server ? ["0"] : [];
    for (const value of [...ALWAYS_BAD, ...OUT_OF_RANGE[flag]!, ...extra]) {
      cases.push({ command, flag, value });
    }
  }
}

test(
  "every numeric flag of every command refuses a bad value with exit 2, naming the flag",
  { timeout: 300_000 },
  async () => {
    // A command that wrongly accepts a value may start serving: each run is killed after 15 s.
    const failures: string[] = [];
    let next = 0;
    const worker = async () => {
      while (next < cases.length) {
        const { command, flag, value } = cases[next++]!;
        const args = [...COMMANDS[command]!.base];
        const at = args.indexOf(`--${flag}`);
        if (at >= 0) args.splice(at, 2); // the base's own value of this flag
        // `--flag=value`, so that "-1" is a value rather than an ambiguous option.
        args.splice(1, 0, `--${flag}=${value}`);
        const result = await runCli(args, 15_000);
        const named = new RegExp(`^framed ${command}: --${flag} must be an integer from \\d+ to`);
        if (result.code !== 2 || !named.test(result.stderr)) {
          failures.push(
            `${command} --${flag} ${JSON.stringify(value)}: exit ${result.code}, ${
              result.stderr.split("\n")[0]
            }`,
          );
        }
      }
    };
    await Promise.all([worker(), worker(), worker(), worker()]);
    assert.deepEqual(failures, [], `${failures.length} of ${cases.length} cases`);
  },
);

test("--help states the unit and range of every numeric flag", { timeout: 30_000 }, async () => {
  const help = await runCli(["--help"]);
  assert.equal(help.code, 0);
  for (
    const line of [
      /--port +0–65535 to listen .*1–65535 to connect/,
      /--max-frame +0–9007199254740991 bytes/,
      /--length-offset +0–9007199254740991 bytes before the length field/,
      /--length-adjustment +-9007199254740991–9007199254740991 bytes added/,
      /--strip +0–9007199254740991 bytes cut from each frame's start/,
      /--timeout +1–86400 seconds/,
      /--max-output +0–268435456 bytes/,
      /--max-concurrent +1–1024 commands/,
      /--max-size +0–9007199254740991 bytes/,
    ]
  ) {
    assert.match(help.stdout, line);
  }
});

test(
  "--length-adjustment takes a negative integer, and refuses anything else naming the flag",
  { timeout: 120_000 },
  async () => {
    const failures: string[] = [];
    const bad = [
      "",
      "abc",
      "1.5",
      "-1.5",
      "1e3",
      "0x10",
      "--1",
      "9007199254740992",
      "-9007199254740992",
    ];
    for (const command of ["echo", "send"]) {
      for (const value of bad) {
        const base = COMMANDS[command]!.base;
        const result = await runCli(
          [base[0]!, `--length-adjustment=${value}`, ...base.slice(1)],
          15_000,
        );
        const named = new RegExp(
          `^framed ${command}: --length-adjustment must be an integer from -9007199254740991 to`,
        );
        if (result.code !== 2 || !named.test(result.stderr)) {
          failures.push(
            `${command} ${JSON.stringify(value)}: exit ${result.code}, ${
              result.stderr.split("\n")[0]
            }`,
          );
        }
      }
    }
    assert.deepEqual(failures, []);
  },
);

test(
  "length-field flags that do not fit together, or the framing, are usage errors (exit 2)",
  { timeout: 120_000 },
  async () => {
    const cases: [string[], RegExp][] = [
      // Netty's "HDR1 stripped" layout decodes, but echo and send write frames too.
      [
        ["--framing", "length", "--length-offset", "1", "--strip", "3"],
        /cannot encode: the first 1 bytes before the length field are stripped/,
      ],
      [
        ["--framing", "length", "--length-offset", "1"],
        /cannot encode: the 1 bytes before the length field are stripped/,
      ],
      [
        ["--framing", "length", "--length-format", "u16be", "--strip", "3"],
        /cannot encode: the 1 bytes after the length field are stripped/,
      ],
      [
        [
          "--framing",
          "length",
          "--length-format",
          "varint",
          "--length-offset",
          "1",
          "--strip",
          "2",
        ],
        /do not fit together: .*varint/,
      ],
      [
        ["--framing", "length", "--length-adjustment", "20", "--max-frame", "10"],
        /do not fit together: .*every frame would be too large/,
      ],
      [["--framing", "delimiter", "--strip", "1"], /--strip only go with --framing length/],
      [
        ["--framing", "json-header", "--length-offset", "2", "--length-adjustment=-1"],
        /--length-offset, --length-adjustment only go with --framing length/,
      ],
    ];
    const failures: string[] = [];
    for (const command of ["echo", "send"]) {
      for (const [flags, message] of cases) {
        const args = command === "echo"
          ? ["echo", ...flags]
          : ["send", ...flags, "--port", "9", "x"];
        // Bounded: a command that wrongly starts is killed after 15 s and fails the check.
        const result = await runCli(args, 15_000);
        const first = result.stderr.split("\n")[0]!;
        if (result.code !== 2 || !first.startsWith(`framed ${command}: `) || !message.test(first)) {
          failures.push(`${args.join(" ")}: exit ${result.code}, ${first}`);
        }
      }
    }
    assert.deepEqual(failures, [], `${failures.length} failures`);
  },
);

test(
  "echo with length-field flags echoes a header-keeping protocol byte for byte, and closes only a bad peer",
  { timeout: 120_000 },
  async () => {
    // [2-byte tag][u16 length of the whole message][payload], delivered and echoed whole.
    const layout = ["--length-format", "u16be", "--length-offset", "2", "--length-adjustment=-4"];
    const [echo, port] = await startCli(["echo", "--framing", "length", ...layout, "--strip", "0"]);
    try {
      const good = await RawPeer.connect(port);
      const frame = Buffer.from("cafe0010" + Buffer.from("HELLO, WORLD").toString("hex"), "hex");
      await good.send(frame.subarray(0, 3));
      await good.send(frame.subarray(3));
      assert.deepEqual(await good.read(frame.length), frame);
      // A length of 1 cannot count its own 4-byte header: that peer alone is closed.
      const bad = await RawPeer.connect(port);
      await bad.send(Buffer.from("cafe0001", "hex"));
      assert.equal(await bad.read(1), null);
      await good.send(frame);
      assert.deepEqual(await good.read(frame.length), frame, "the good peer is still served");
      good.socket.destroy();
      // send speaks the same flags: tokio's "length counts the head" layout, stripped.
      const [echo2, port2] = await startCli([
        "echo",
        "--framing",
        "length",
        "--length-format",
        "u16be",
        "--length-adjustment=-2",
      ]);
      try {
        const result = await runCli([
          "send",
          "--framing",
          "length",
          "--length-format",
          "u16be",
          "--length-adjustment=-2",
          "--port",
          String(port2),
          "hello",
          "",
        ]);
        assert.equal(result.code, 0, result.stderr);
        assert.equal(result.stdout, "hello\n", "two replies, the second empty");
      } finally {
        await stopCli(echo2);
      }
    } finally {
      await stopCli(echo);
    }
    assert.match(echo.stderr(), /negative number of bytes after the field/);
  },
);

/** Every command, with what it needs besides `--api` (the demos need nothing). */
const ALL_COMMANDS: Record<string, string[]> = {
  ...Object.fromEntries(Object.entries(COMMANDS).map(([name, { base }]) => [name, base])),
  "sticky-demo": ["sticky-demo"],
  "udp-demo": ["udp-demo"],
};

test(
  "every command takes --api and refuses a value other than native or node with exit 2",
  { timeout: 120_000 },
  async () => {
    const failures: string[] = [];
    for (const [command, base] of Object.entries(ALL_COMMANDS)) {
      const result = await runCli([base[0]!, "--api=morse", ...base.slice(1)], 15_000);
      if (result.code !== 2 || !result.stderr.startsWith(`framed ${command}: --api must be`)) {
        failures.push(`${command}: exit ${result.code}, ${result.stderr.split("\n")[0]}`);
      }
    }
    assert.deepEqual(failures, []);
  },
);

test(
  "--help lists every command, and COMMAND --help gives its flags and examples with exit 0",
  { timeout: 120_000 },
  async () => {
    const help = await runCli(["--help"]);
    for (const command of Object.keys(ALL_COMMANDS)) {
      assert.match(help.stdout, new RegExp(`^  ${command} +\\S`, "m"), `${command} is listed`);
      const own = await runCli([command, "--help"]);
      assert.equal(own.code, 0, `${command} --help: ${own.stderr}`);
      assert.ok(own.stdout.startsWith(`usage: framed ${command} `), own.stdout);
      assert.match(own.stdout, /^ {2}--api +native .* \(default native\)$/m);
      // Every example says what it does, then runs this command.
      const examples = own.stdout.slice(own.stdout.indexOf("\nexamples:\n"));
      const runs = examples.match(
        new RegExp(`^ {2}# .+\n {2}(\\S.* \\| )?framed ${command}\\b`, "gm"),
      );
      assert.ok((runs?.length ?? 0) >= 2, `${command} --help has two examples: ${examples}`);
    }
  },
);

test(
  "flag mistakes that node:util parseArgs catches are said in plain words naming the flag",
  { timeout: 60_000 },
  async () => {
    const base = ["connect", "--framing", "length", "--port", "9"];
    const cases: [string[], string][] = [
      [["--bogus"], "unknown flag --bogus"],
      [["--wait"], "--wait needs a value"],
      [["--wait", "-1"], '--wait needs a value; write one that starts with "-" as --wait=-…'],
      [["--tls=yes"], "--tls takes no value"],
      [["extra"], 'takes no arguments (got "extra"); see --input'],
    ];
    for (const [args, message] of cases) {
      const result = await runCli([...base, ...args], 15_000);
      assert.equal(result.code, 2, `${args.join(" ")}: ${result.stderr}`);
      const [first, , synopsis] = result.stderr.split("\n");
      assert.equal(first, `framed connect: ${message}`);
      // The synopsis follows, not the whole help: the mistake stays on screen.
      assert.match(synopsis!, /^usage: framed connect /);
      assert.doesNotMatch(result.stderr, /examples:/);
    }
  },
);

// ── TLS and unix sockets ─────────────────────────────────────────────────────────────────────

test(
  "TLS and unix flag mistakes are usage errors (exit 2) naming the flag, or the file",
  { timeout: 300_000 },
  async () => {
    const { dir } = tlsFixtures();
    const cert = join(dir, "cert.pem");
    const key = join(dir, "key.pem");
    const ca = join(dir, "ca.pem");
    const missing = join(dir, "missing.pem");
    const notPem = join(dir, "server.cnf"); // openssl's config, written by the fixtures: no PEM
    const sock = join(dir, "never.sock"); // in a folder removed at exit, should a case listen
    const send = ["send", "--framing", "length"];
    const cases: [string[], RegExp][] = [
      [["echo", "--framing", "length", "--tls-cert", cert], /--tls-cert and --tls-key go together/],
      [["echo", "--framing", "length", "--tls-key", key], /--tls-cert and --tls-key go together/],
      [["exec-server", "--tls-cert", cert], /--tls-cert and --tls-key go together/],
      [["file-server", "--dir", ".", "--tls-key", key], /--tls-cert and --tls-key go together/],
      [
        ["echo", "--framing", "length", "--tls-cert", missing, "--tls-key", key],
        new RegExp(`--tls-cert ${missing}: no such file`),
      ],
      [
        ["echo", "--framing", "length", "--tls-cert", cert, "--tls-key", missing],
        new RegExp(`--tls-key ${missing}: no such file`),
      ],
      [
        ["echo", "--framing", "length", "--tls-cert", notPem, "--tls-key", key],
        new RegExp(`--tls-cert ${notPem}: not a PEM file`),
      ],
      [
        ["echo", "--framing", "length", "--tls-cert", dir, "--tls-key", key],
        new RegExp(`--tls-cert ${dir}: it is a directory`),
      ],
      [
        ["echo", "--framing", "length", "--unix", sock, "--port", "9"],
        /--unix cannot be combined with --port/,
      ],
      [
        ["echo", "--framing", "length", "--unix", sock, "--host", "::1"],
        /--unix cannot be combined with --host/,
      ],
      [
        ["exec-server", "--unix", sock, "--tls-cert", cert, "--tls-key", key],
        /--unix cannot be combined with --tls-cert, --tls-key/,
      ],
      [["echo", "--framing", "length", "--unix="], /--unix needs a socket file path/],
      [
        [...send, "--unix", sock, "--port", "9", "x"],
        /--unix cannot be combined with --port/,
      ],
      [[...send, "--unix", sock, "--tls", "x"], /--unix cannot be combined with --tls/],
      [
        ["put", "--unix", sock, "--ca", ca, "cli.ts"],
        /--unix cannot be combined with --ca/,
      ],
      [[...send, "--port", "9", "--ca", ca, "x"], /--ca needs --tls/],
      [[...send, "--port", "9", "--servername", "localhost", "x"], /--servername needs --tls/],
      [
        [...send, "--port", "9", "--tls", "--ca", missing, "x"],
        new RegExp(`--ca ${missing}: no such file`),
      ],
      [
        [...send, "--port", "9", "--tls", "--ca", notPem, "x"],
        new RegExp(`--ca ${notPem}: not a PEM file`),
      ],
      [["exec", "--port", "9", "--tls", "--ca", missing, "--", "true"], /--ca .*: no such file/],
      [["get", "--port", "9", "--tls=yes", "x", "--out", "y"], /--tls/],
    ];
    const failures: string[] = [];
    for (const [args, message] of cases) {
      // Bounded: a command that wrongly starts is killed after 15 s and fails the check.
      const result = await runCli(args, 15_000);
      const first = result.stderr.split("\n")[0]!;
      if (result.code !== 2 || !first.startsWith(`framed ${args[0]}: `) || !message.test(first)) {
        failures.push(`${args.join(" ")}: exit ${result.code}, ${first}`);
      }
    }
    assert.deepEqual(failures, [], `${failures.length} of ${cases.length} cases`);
  },
);

test(
  "every server's --help lists --tls-cert, --tls-key and --unix; every client's --tls, --ca, --servername and --unix",
  { timeout: 120_000 },
  async () => {
    const flags = {
      server: ["--tls-cert", "--tls-key", "--unix"],
      client: ["--tls", "--ca", "--servername", "--unix"],
    };
    const roles: Record<string, keyof typeof flags> = {
      echo: "server",
      "exec-server": "server",
      "file-server": "server",
      send: "client",
      exec: "client",
      put: "client",
      get: "client",
    };
    for (const [command, role] of Object.entries(roles)) {
      const help = await runCli([command, "--help"]);
      assert.equal(help.code, 0, help.stderr);
      for (const flag of flags[role]) {
        assert.match(
          help.stdout,
          new RegExp(`^ {2}${flag} +\\S`, "m"),
          `${command} --help: ${flag}`,
        );
      }
    }
    const all = await runCli(["--help"]);
    for (const flag of [...flags.server, ...flags.client]) {
      assert.match(all.stdout, new RegExp(`${flag}\\b`));
    }
    const exec = await runCli(["exec-server", "--help"]);
    assert.match(exec.stdout, /TLS with a token is the supported way/);
  },
);
