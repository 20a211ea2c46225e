// The classic socket programs, done right: sticky-packet demo, remote command runner, file
// transfer and UDP, on real loopback sockets in the runtime running the tests.

import { after, test } from "node:test";
import assert from "node:assert/strict";
import { createHash, randomBytes } from "node:crypto";
import {
  closeSync,
  mkdirSync,
  mkdtempSync as makeTempDir,
  openSync,
  readdirSync,
  readFileSync,
  rmSync,
  statSync,
  writeFileSync,
  writeSync,
} from "node:fs";
import { readFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import {
  connectStream,
  detectRuntime,
  jsonHeader,
  type JsonHeaderEvent,
  sendAll,
  type SocketApi,
} from "../mod.ts";
import { stickyDemo } from "../examples/sticky_demo.ts";
import { udpDemo } from "../examples/udp_demo.ts";
import { run, runCli as cli, runtimeCommand, startCli, stopCli as stop } from "./_process.ts";

const T = { timeout: 120_000 };

// Every temporary folder (one test writes 512 MiB) is removed when the file's tests are done.
const tempDirs: string[] = [];
function mkdtempSync(prefix: string): string {
  const dir = makeTempDir(prefix);
  tempDirs.push(dir);
  return dir;
}
after(() => {
  for (const dir of tempDirs) rmSync(dir, { recursive: true, force: true });
});
const quiet = () => {};

for (const api of ["native", "node"] as SocketApi[]) {
  test(
    `sticky-demo (${api}): unframed sends merge and a large reply splits; framed keeps every boundary`,
    T,
    async () => {
      const result = await stickyDemo(api, quiet);
      assert.deepEqual(result.unframedReads, ["helloworld"], "two sends, one read");
      assert.ok(result.unframedReplyPieces.length > 1, "one reply, several reads");
      assert.equal(result.unframedReplyPieces.reduce((a, b) => a + b, 0), 1024 * 1024);
      assert.deepEqual(result.framedFrames, ["hello", "world"]);
      assert.equal(result.framedReplyLength, 1024 * 1024);
    },
  );
}

// ── exec ─────────────────────────────────────────────────────────────────────────────────────

test(
  "exec runs an argv with no shell, keeps stdout and stderr apart, and returns the exit code",
  T,
  async () => {
    const [server, port] = await startCli(["exec-server"]);
    try {
      const result = await cli([
        "exec",
        "--port",
        String(port),
        "--",
        "python3",
        "-c",
        "import sys; print('to stdout'); print('to stderr', file=sys.stderr); sys.exit(3)",
      ]);
      assert.equal(result.code, 3);
      assert.equal(result.stdout, "to stdout");
      assert.equal(result.stderr.trim(), "to stderr");
      // No shell: metacharacters are plain arguments.
      const echo = await cli([
        "exec",
        "--port",
        String(port),
        "--",
        "echo",
        "a; rm -rf /tmp/x",
        "$(id)",
      ]);
      assert.equal(echo.stdout, "a; rm -rf /tmp/x $(id)");
    } finally {
      await stop(server);
    }
  },
);

test("exec with a wrong token is refused and runs nothing", T, async () => {
  const dir = mkdtempSync(join(tmpdir(), "framed-exec-"));
  const [server, port] = await startCli(["exec-server", "--token", "s3cret"]);
  try {
    const marker = join(dir, "ran");
    const wrong = await cli([
      "exec",
      "--port",
      String(port),
      "--token",
      "guess",
      "--",
      "touch",
      marker,
    ]);
    assert.notEqual(wrong.code, 0);
    assert.match(wrong.stderr, /wrong or missing token/);
    const none = await cli(["exec", "--port", String(port), "--", "touch", marker]);
    assert.notEqual(none.code, 0);
    assert.deepEqual(readdirSync(dir), [], "nothing ran");
    const right = await cli([
      "exec",
      "--port",
      String(port),
      "--token",
      "s3cret",
      "--",
      "touch",
      marker,
    ]);
    assert.equal(right.code, 0, right.stderr);
    assert.deepEqual(readdirSync(dir), ["ran"]);
  } finally {
    await stop(server);
  }
});

test("exec-server refuses to bind a non-loopback address without a token", T, async () => {
  const result = await cli(["exec-server", "--host", "0.0.0.0"]);
  assert.equal(result.code, 2);
  assert.match(result.stderr, /without --token/);
});

test("exec kills a command that outlives --timeout", T, async () => {
  const [server, port] = await startCli(["exec-server", "--timeout", "1"]);
  try {
    const started = Date.now();
    const result = await cli(["exec", "--port", String(port), "--", "sleep", "30"]);
    assert.equal(result.code, 124);
    assert.match(result.stderr, /timed out/);
    assert.ok(Date.now() - started < 20_000);
  } finally {
    await stop(server);
  }
});

test("exec truncates output at --max-output and says so, with bounded memory", T, async () => {
  const [server, port] = await startCli(["exec-server", "--max-output", "1000"]);
  try {
    const result = await cli([
      "exec",
      "--port",
      String(port),
      "--",
      "python3",
      "-c",
      "print('x' * 100000)",
    ]);
    assert.equal(result.code, 0);
    assert.equal(result.stdout.length, 1000);
    assert.match(result.stderr, /truncated/);
  } finally {
    await stop(server);
  }
});

test("exec returns 20 MB of output whole", T, async () => {
  const [server, port] = await startCli(["exec-server"]);
  try {
    const [command, prefix] = runtimeCommand("cli.ts");
    const out = join(mkdtempSync(join(tmpdir(), "framed-exec-")), "out");
    // The CLI's stdout goes to a file through Python, so 20 MB never pass through a test pipe line.
    const result = await run("python3", [
      "-c",
      `import subprocess,sys; r=subprocess.run(sys.argv[1:], stdout=open(${
        JSON.stringify(out)
      },'wb')); sys.exit(r.returncode)`,
      command,
      ...prefix,
      "exec",
      "--port",
      String(port),
      "--",
      "python3",
      "-c",
      "import sys; sys.stdout.buffer.write(bytes(range(256)) * 78125)",
    ]);
    assert.equal(result.code, 0, result.stderr);
    const bytes = readFileSync(out);
    assert.equal(bytes.length, 20_000_000);
    for (let i = 0; i < bytes.length; i++) {
      if (bytes[i] !== i % 256) assert.fail(`byte ${i} differs`);
    }
  } finally {
    await stop(server);
  }
});

// ── file transfer ────────────────────────────────────────────────────────────────────────────

function tempFile(dir: string, name: string, size: number): string {
  const path = join(dir, name);
  writeFileSync(path, randomBytes(size));
  return path;
}

const sha256 = (bytes: Uint8Array) => createHash("sha256").update(bytes).digest("hex");

test(
  "put then get round-trips a file byte for byte, with sha256 checked both ways",
  T,
  async () => {
    const serverDir = mkdtempSync(join(tmpdir(), "framed-files-"));
    const clientDir = mkdtempSync(join(tmpdir(), "framed-client-"));
    const [server, port] = await startCli(["file-server", "--dir", serverDir]);
    try {
      const source = tempFile(clientDir, "data.bin", 3 * 1024 * 1024 + 7);
      const put = await cli(["put", "--port", String(port), source]);
      assert.equal(put.code, 0, put.stderr);
      assert.match(put.stdout, /uploaded data\.bin: 3145735 bytes/);
      assert.deepEqual(readdirSync(serverDir), ["data.bin"], "no temporary file is left behind");
      const out = join(clientDir, "copy.bin");
      const got = await cli(["get", "--port", String(port), "data.bin", "--out", out]);
      assert.equal(got.code, 0, got.stderr);
      assert.equal(sha256(readFileSync(out)), sha256(readFileSync(source)));
      const empty = tempFile(clientDir, "empty.bin", 0);
      assert.equal((await cli(["put", "--port", String(port), empty])).code, 0);
      assert.equal(statSync(join(serverDir, "empty.bin")).size, 0);
    } finally {
      await stop(server);
    }
  },
);

/** Sends raw frames to the file server, bypassing our client, and returns the reply header. */
async function rawRequest(
  port: number,
  header: Record<string, unknown>,
  body: Uint8Array,
): Promise<Record<string, unknown>> {
  const codec = jsonHeader({ sizeField: "file_size" });
  const stream = await connectStream({ port });
  const events: JsonHeaderEvent[] = [];
  const decoder = codec.createStreamingDecoder();
  const replied = new Promise<void>((resolve) => {
    stream.start({
      data(chunk) {
        decoder.push(chunk, (e) => events.push(e));
        if (events.some((e) => e.type === "header")) resolve();
        return false;
      },
      end: resolve,
      error: resolve,
    });
  });
  await sendAll(stream, codec.encodeHeader(header, body.length)).catch(() => {});
  await sendAll(stream, body).catch(() => {}); // the server may refuse and close mid-body
  await replied;
  stream.close();
  const first = events.find((e) => e.type === "header");
  assert.ok(first && first.type === "header", "the server replied with a header");
  return first.header as Record<string, unknown>;
}

test("an upload whose sha256 does not match is refused and leaves no file behind", T, async () => {
  const dir = mkdtempSync(join(tmpdir(), "framed-files-"));
  const [server, port] = await startCli(["file-server", "--dir", dir]);
  try {
    const body = randomBytes(100_000);
    const reply = await rawRequest(port, {
      op: "put",
      file_name: "x.bin",
      file_size: body.length,
      sha256: "0".repeat(64),
    }, body);
    assert.equal(reply.ok, false);
    assert.match(String(reply.error), /sha256 mismatch/);
    assert.deepEqual(readdirSync(dir), []);
    // The same server still accepts a correct upload.
    const good = await rawRequest(port, {
      op: "put",
      file_name: "ok.bin",
      file_size: 3,
      sha256: sha256(new Uint8Array([1, 2, 3])),
    }, new Uint8Array([1, 2, 3]));
    assert.equal(good.ok, true);
    assert.deepEqual(readdirSync(dir), ["ok.bin"]);
  } finally {
    await stop(server);
  }
});

test("path traversal and hidden names are refused, whatever client connects", T, async () => {
  const root = mkdtempSync(join(tmpdir(), "framed-files-"));
  const dir = join(root, "served");
  mkdirSync(dir);
  const [server, port] = await startCli(["file-server", "--dir", dir]);
  try {
    for (
      const name of [
        "../escape.bin",
        "/etc/passwd",
        "a/b",
        "..",
        ".",
        ".hidden",
        "a\\b",
        "",
        "nul\0byte",
      ]
    ) {
      const body = new Uint8Array([1]);
      const reply = await rawRequest(port, {
        op: "put",
        file_name: name,
        file_size: 1,
        sha256: sha256(body),
      }, body);
      assert.equal(reply.ok, false, `put ${JSON.stringify(name)}`);
      const get = await rawRequest(
        port,
        { op: "get", file_name: name, file_size: 0 },
        new Uint8Array(0),
      );
      assert.equal(get.ok, false, `get ${JSON.stringify(name)}`);
    }
    assert.deepEqual(readdirSync(root), ["served"]);
    assert.deepEqual(readdirSync(dir), []);
  } finally {
    await stop(server);
  }
});

test("a file over --max-size is refused before any byte is written", T, async () => {
  const dir = mkdtempSync(join(tmpdir(), "framed-files-"));
  const clientDir = mkdtempSync(join(tmpdir(), "framed-client-"));
  const [server, port] = await startCli(["file-server", "--dir", dir, "--max-size", "1000"]);
  try {
    const big = tempFile(clientDir, "big.bin", 5 * 1024 * 1024);
    const put = await cli(["put", "--port", String(port), big]);
    assert.notEqual(put.code, 0);
    assert.match(put.stderr, /over the limit of 1000 bytes/);
    assert.equal(put.stderr.trim().split("\n").length, 1);
    assert.deepEqual(readdirSync(dir), []);
  } finally {
    await stop(server);
  }
});

test("a 512 MiB file streams through with less than 100 MiB RSS on each side", T, async () => {
  const serverDir = mkdtempSync(join(tmpdir(), "framed-files-"));
  const clientDir = mkdtempSync(join(tmpdir(), "framed-client-"));
  const size = 512 * 1024 * 1024;
  const source = join(clientDir, "large.bin");
  // Written 1 MiB at a time, so the test itself never holds the file in memory.
  const block = randomBytes(1024 * 1024);
  const fd = openSync(source, "w");
  for (let i = 0; i < size / block.length; i++) writeSync(fd, block);
  closeSync(fd);
  const [server, port] = await startCli(["file-server", "--dir", serverDir]);
  try {
    const [command, prefix] = runtimeCommand("cli.ts");
    // Python runs the client and reports the child's peak RSS (ru_maxrss, KiB on Linux).
    const result = await run("python3", [
      "-c",
      "import resource,subprocess,sys; r=subprocess.run(sys.argv[1:]); print(resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss); sys.exit(r.returncode)",
      command,
      ...prefix,
      "put",
      "--port",
      String(port),
      source,
    ], 300_000);
    assert.equal(result.code, 0, result.stderr);
    const clientPeakMiB = Number(result.stdout.trim().split("\n").at(-1)) / 1024;
    const status = await readFile(`/proc/${server.pid}/status`, "utf8");
    const serverPeakMiB = Number(/VmHWM:\s+(\d+) kB/.exec(status)![1]) / 1024;
    console.log(
      `512 MiB upload: client peak RSS ${clientPeakMiB.toFixed(1)} MiB, server ${
        serverPeakMiB.toFixed(1)
      } MiB`,
    );
    assert.ok(clientPeakMiB < 100, `client peak RSS ${clientPeakMiB} MiB`);
    assert.ok(serverPeakMiB < 100, `server peak RSS ${serverPeakMiB} MiB`);
    assert.equal(statSync(join(serverDir, "large.bin")).size, size);
  } finally {
    await stop(server);
  }
});

// ── UDP ──────────────────────────────────────────────────────────────────────────────────────

for (const api of ["native", "node"] as SocketApi[]) {
  test(
    `udp (${detectRuntime()} ${api}): each datagram arrives whole, empty ones too, and oversize is refused`,
    T,
    async () => {
      const result = await udpDemo(api, quiet);
      assert.deepEqual(result.receivedSizes, result.sentSizes);
      assert.ok(result.sentSizes.includes(0) && result.sentSizes.includes(65_507));
      assert.equal(result.oversizeRefused, true);
      assert.ok(result.burstReceived <= result.burstSent);
    },
  );
}
