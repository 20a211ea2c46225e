// The `framed` command line as a contract: driven by peers in Python (struct + socket) and Java,
// under the runtime running the tests.

import { test } from "node:test";
import assert from "node:assert/strict";
import { LENGTH_FORMATS } from "../mod.ts";
import { line, run, runCli, start, startCli, stopCli as stop } from "./_process.ts";

const T = { timeout: 120_000 };
const PEER = "tests/peers/struct_peer.py";

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
