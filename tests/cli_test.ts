// The `framed` command line as a contract: driven by peers in Python (struct + socket) and Java,
// under the runtime running the tests.

import { after, test } from "node:test";
import assert from "node:assert/strict";
import { existsSync, writeFileSync } from "node:fs";
import { type AddressInfo, createServer } from "node:net";
import { join } from "node:path";
import { LENGTH_FORMATS } from "../mod.ts";
import {
  eventually,
  line,
  run,
  runCli,
  type Running,
  runtimeCommand,
  start,
  startCli,
  stopCli as stop,
  tempDirs,
} from "./_process.ts";
import { RawPeer } from "./_raw_peer.ts";
import { tlsFixtures } from "./_tls_fixtures.ts";

const T = { timeout: 120_000 };
const PEER = "tests/peers/struct_peer.py";
const dirs = tempDirs();
after(() => dirs.removeAll());

/** Starts a CLI server and checks its first line against `listening` (whose group 1 is returned). */
async function startListening(args: string[], listening: RegExp): Promise<[Running, string]> {
  const [command, prefix] = runtimeCommand("cli.ts");
  const server = start(command, [...prefix, ...args]);
  const first = await line(server, 0);
  const match = listening.exec(first);
  assert.ok(match, `first line was ${JSON.stringify(first)}; stderr: ${server.stderr()}`);
  return [server, match[1] ?? ""];
}

const TLS_LISTENING = /^listening on 127\.0\.0\.1:(\d+) \(TLS\)$/;

test(
  "echo --framing length echoes Python struct frames byte for byte, for every length format",
  T,
  async () => {
    for (const format of LENGTH_FORMATS) {
      const [echo, port] = await startCli([
        "echo",
        "--framing",
        "length",
        "--length-format",
        format,
      ]);
      const peer = await run("python3", [PEER, "client", String(port), "length", format]);
      assert.equal(peer.code, 0, `${format}: ${peer.stderr}`);
      assert.equal(peer.stdout, "ok 57");
      await stop(echo);
    }
  },
);

test(
  "echo --framing json-header --length-format i32le speaks the seed's Python program",
  T,
  async () => {
    const [echo, port] = await startCli([
      "echo",
      "--framing",
      "json-header",
      "--length-format",
      "i32le",
    ]);
    const peer = await run("python3", [PEER, "client", String(port), "json-header", "i32le"]);
    assert.equal(peer.code, 0, peer.stderr);
    assert.equal(peer.stdout, "ok 57", "same header and same body, byte for byte");
    await stop(echo, "SIGINT");
  },
);

test("echo --framing delimiter echoes newline-terminated records", T, async () => {
  const [echo, port] = await startCli([
    "echo",
    "--framing",
    "delimiter",
    "--delimiter",
    "\\n",
    "--max-frame",
    "100000",
  ]);
  const peer = await run("python3", [PEER, "client", String(port), "delimiter", "u32be"]);
  assert.equal(peer.code, 0, peer.stderr);
  await stop(echo);
});

test(
  "echo --framing delimiter sends back the last record of a client that sends a\\nb then half-closes",
  T,
  async () => {
    const [echo, port] = await startCli(["echo", "--framing", "delimiter"]);
    const peer = await RawPeer.connect(port);
    try {
      await peer.send(new TextEncoder().encode("a\nb"));
      peer.socket.end(); // what `printf 'a\nb' | nc 127.0.0.1 PORT` does
      const reply = await peer.read(4);
      assert.equal(reply?.toString("utf8"), "a\nb\n", "b comes back, with its newline");
      assert.equal(await peer.read(1), null, "then echo closes the connection");
      assert.doesNotMatch(echo.stderr(), /framed echo:/, "a last record is no error");
    } finally {
      peer.close();
      await stop(echo);
    }
  },
);

test(
  "send --framing delimiter prints a last reply that the server ended without a delimiter",
  T,
  async () => {
    // A server like `printf 'HELLO\nBYE' | nc -l`: it answers, then closes after the last record.
    const server = createServer((socket) => {
      socket.once("data", () => socket.end("HELLO\nBYE"));
    });
    await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
    try {
      const { port } = server.address() as AddressInfo;
      const result = await runCli([
        "send",
        "--framing",
        "delimiter",
        "--port",
        String(port),
        "a",
        "b",
      ]);
      assert.equal(result.code, 0, result.stderr);
      assert.equal(result.stdout, "HELLO\nBYE");
    } finally {
      await new Promise((resolve) => server.close(resolve));
    }
  },
);

test("echo answers a Java client (DataOutputStream.writeInt is u32be)", T, async () => {
  const [echo, port] = await startCli(["echo", "--framing", "length", "--api", "node"]);
  const peer = await run("java", ["tests/peers/Peer.java", String(port)]);
  assert.equal(peer.code, 0, peer.stderr);
  assert.equal(peer.stdout, "ok 100");
  await stop(echo);
});

test("echo closes a connection that sends garbage and keeps serving everyone else", T, async () => {
  const [echo, port] = await startCli(["echo", "--framing", "length"]);
  const garbage = await run("python3", [PEER, "garbage", String(port)]);
  assert.equal(garbage.stdout, "closed by server", garbage.stderr);
  const peer = await run("python3", [PEER, "client", String(port), "length", "u32be"]);
  assert.equal(peer.stdout, "ok 57", peer.stderr);
  assert.match(
    echo.stderr(),
    /framed echo: 127\.0\.0\.1:\d+: /,
    "the bad client is reported on stderr",
  );
  await stop(echo);
});

for (
  const [framing, format] of [["length", "u32be"], ["length", "varint"], ["json-header", "i32le"], [
    "delimiter",
    "u32be",
  ]]
) {
  test(
    `send --framing ${framing} --length-format ${format} pipelines to a Python server and prints each reply`,
    T,
    async () => {
      const server = start("python3", [PEER, "server", framing!, format!]);
      const port = Number((await line(server, 0)).split(" ")[1]);
      const result = await runCli([
        "send",
        "--framing",
        framing!,
        "--length-format",
        format!,
        "--port",
        String(port),
        "hello",
        "wörld",
        "",
      ]);
      assert.equal(result.code, 0, result.stderr);
      assert.equal(result.stdout, "HELLO\nWöRLD\n", "one reply body per line, in order");
      assert.equal(await line(server, 1), "served 3");
      await server.exited;
    },
  );
}

test("send prints one line on stderr and exits non-zero when nothing listens", T, async () => {
  const [echo, port] = await startCli(["echo", "--framing", "length"]);
  await stop(echo);
  const result = await runCli(["send", "--framing", "length", "--port", String(port), "x"]);
  assert.notEqual(result.code, 0);
  assert.equal(result.stderr.trim().split("\n").length, 1, result.stderr);
  assert.match(result.stderr, /^framed send: /);
});

test("a usage mistake exits 2 with the usage text", T, async () => {
  const result = await runCli(["echo", "--framing", "morse"]);
  assert.equal(result.code, 2);
  assert.match(result.stderr, /--framing must be length, delimiter or json-header/);
});

// ── TLS and unix sockets ─────────────────────────────────────────────────────────────────────

/** `--tls-cert` and `--tls-key` for the test certificate (valid for 127.0.0.1 and localhost). */
function serverTls(): string[] {
  const { dir } = tlsFixtures();
  return ["--tls-cert", join(dir, "cert.pem"), "--tls-key", join(dir, "key.pem")];
}

test(
  "echo --tls-cert --tls-key says (TLS) and echoes to send --tls --ca, on either socket API",
  T,
  async () => {
    const { dir } = tlsFixtures();
    const [echo, port] = await startListening(
      ["echo", "--framing", "length", ...serverTls()],
      TLS_LISTENING,
    );
    try {
      for (const api of ["native", "node"]) {
        for (const host of ["127.0.0.1", "localhost"]) {
          const result = await runCli([
            "send",
            "--framing",
            "length",
            "--port",
            port,
            "--host",
            host,
            "--tls",
            "--ca",
            join(dir, "ca.pem"),
            "--api",
            api,
            "hello",
            "wörld",
          ]);
          assert.equal(result.code, 0, `--api ${api} --host ${host}: ${result.stderr}`);
          assert.equal(result.stdout, "hello\nwörld");
        }
      }
      // --servername names what the certificate must hold, whatever address is dialled.
      const named = await runCli([
        "send",
        "--framing",
        "length",
        "--port",
        port,
        "--tls",
        "--ca",
        join(dir, "ca.pem"),
        "--servername",
        "localhost",
        "hi",
      ]);
      assert.equal(named.code, 0, named.stderr);
      assert.equal(named.stdout, "hi");
    } finally {
      await stop(echo);
    }
  },
);

test(
  "send --tls refuses a certificate its --ca did not sign, or one without --servername's name",
  T,
  async () => {
    const { dir } = tlsFixtures();
    const otherCa = join(dirs.make("framed-cli-"), "other-ca.pem");
    writeFileSync(otherCa, tlsFixtures().otherCa);
    const [echo, port] = await startListening(
      ["echo", "--framing", "length", ...serverTls()],
      TLS_LISTENING,
    );
    try {
      const base = ["send", "--framing", "length", "--port", port, "--tls"];
      for (
        const extra of [
          ["--ca", otherCa],
          ["--ca", join(dir, "ca.pem"), "--servername", "example.com"],
          [], // the system's roots do not know the test CA
        ]
      ) {
        const result = await runCli([...base, ...extra, "x"]);
        assert.equal(result.code, 1, `${extra.join(" ")}: ${result.stdout}`);
        assert.equal(result.stdout, "", "nothing was sent or received");
        assert.equal(result.stderr.trim().split("\n").length, 1, result.stderr);
        assert.match(
          result.stderr,
          new RegExp(`^framed send: TLS handshake with 127\\.0\\.0\\.1:${port} failed: `),
        );
      }
      // A client that is not speaking TLS at all fails the server's side of the handshake: the
      // server reports it, naming the client, and serves everyone else. (A client that rejects
      // the certificate is reported by node:tls only at the handshake timeout, so it is not
      // waited for here.)
      const garbage = await run("python3", [PEER, "garbage", port]);
      assert.equal(garbage.stdout, "closed by server", garbage.stderr);
      await eventually(
        "the failed handshake is reported on stderr",
        () => /framed echo: TLS handshake with 127\.0\.0\.1:\d+ failed/.test(echo.stderr()),
      );
      const good = await runCli([...base, "--ca", join(dir, "ca.pem"), "still"]);
      assert.equal(good.stdout, "still", good.stderr);
    } finally {
      await stop(echo);
    }
  },
);

test(
  "echo --unix says `listening on unix:PATH`, echoes to send --unix, and removes the file at exit",
  T,
  async () => {
    const path = join(dirs.make("framed-cli-"), "echo.sock");
    const [echo] = await startListening(
      ["echo", "--framing", "delimiter", "--unix", path],
      new RegExp(`^listening on unix:${path.replaceAll(".", "\\.")}$`),
    );
    try {
      for (const api of ["native", "node"]) {
        const result = await runCli([
          "send",
          "--framing",
          "delimiter",
          "--unix",
          path,
          "--api",
          api,
          "one",
          "two",
        ]);
        assert.equal(result.code, 0, `--api ${api}: ${result.stderr}`);
        assert.equal(result.stdout, "one\ntwo");
      }
    } finally {
      await stop(echo);
    }
    assert.equal(existsSync(path), false, "the socket file is gone once echo has exited");
  },
);
