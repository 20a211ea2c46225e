// file-server / put / get: streamed, sha256-checked file transfer, through the CLI and through
// hand-built frames (tests/_raw_peer.ts), as a hostile peer and a careless operator would drive it.

import { after, test } from "node:test";
import assert from "node:assert/strict";
import { createHash, randomBytes } from "node:crypto";
import {
  closeSync,
  existsSync,
  lstatSync,
  mkdirSync,
  mkdtempSync,
  openSync,
  readdirSync,
  readFileSync,
  rmSync,
  statSync,
  symlinkSync,
  writeFileSync,
  writeSync,
} from "node:fs";
import { readFile } from "node:fs/promises";
import { Buffer } from "node:buffer";
import { tmpdir } from "node:os";
import { join } from "node:path";
import process from "node:process";
import { type ByteListener, listenStreams, netAddress, TlsError } from "../mod.ts";
import { fileServer, MAX_NAME_BYTES } from "../programs/file_transfer.ts";
import { jsonFrame, RawPeer } from "./_raw_peer.ts";
import {
  eventually,
  line,
  run,
  runCli as cli,
  type Running,
  runtimeCommand,
  start,
  startCli,
  stopCli as stop,
  tempDirs,
} from "./_process.ts";
import { tlsFixtures } from "./_tls_fixtures.ts";

const T = { timeout: 120_000 };
// Every temporary folder (one test writes 512 MiB) is removed when the file's tests are done.
const dirs = tempDirs();
after(() => dirs.removeAll());

function tempFile(dir: string, name: string, size: number): string {
  const path = join(dir, name);
  writeFileSync(path, randomBytes(size));
  return path;
}

const sha256 = (bytes: Uint8Array) => createHash("sha256").update(bytes).digest("hex");

/**
 * Sends one request as raw bytes, bypassing our client and codec, and returns the reply frame.
 * Fails the test when the server closes the connection without a reply.
 */
async function rawRequest(
  port: number,
  header: Record<string, unknown>,
  body: Uint8Array = new Uint8Array(0),
): Promise<{ header: Record<string, unknown>; body: Uint8Array }> {
  const peer = await RawPeer.connect(port);
  try {
    // The server may refuse and stop reading mid-body: a failed send is fine, the reply decides.
    await peer.send(jsonFrame(header)).catch(() => {});
    await peer.send(body).catch(() => {});
    const reply = await peer.readFrame("file_size");
    assert.ok(reply !== null, `the server replied to ${JSON.stringify(header).slice(0, 200)}`);
    return reply;
  } finally {
    peer.close();
  }
}

/** A put request for `body` under `name`, with its real sha256 unless one is given. */
function putRequest(port: number, name: string, body: Uint8Array, hash = sha256(body)) {
  return rawRequest(
    port,
    { op: "put", file_name: name, file_size: body.length, sha256: hash },
    body,
  );
}

function getRequest(port: number, name: string) {
  return rawRequest(port, { op: "get", file_name: name, file_size: 0 });
}

test(
  "put then get round-trips a file byte for byte, with sha256 checked both ways",
  T,
  async () => {
    const serverDir = dirs.make("framed-files-");
    const clientDir = dirs.make("framed-client-");
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
      // The same exchange in raw frames.
      const raw = await getRequest(port, "data.bin");
      assert.equal(raw.header.ok, true);
      assert.equal(raw.header.sha256, sha256(readFileSync(source)));
      assert.equal(sha256(raw.body), raw.header.sha256);
    } finally {
      await stop(server);
    }
  },
);

test("put and get --api node round-trip a file over node:net", T, async () => {
  const serverDir = dirs.make("framed-files-");
  const clientDir = dirs.make("framed-client-");
  const [server, port] = await startCli(["file-server", "--dir", serverDir, "--api", "node"]);
  try {
    const peer = ["--port", String(port), "--api", "node"];
    const source = tempFile(clientDir, "node.bin", 100_000);
    const put = await cli(["put", ...peer, source]);
    assert.equal(put.code, 0, put.stderr);
    const out = join(clientDir, "copy.bin");
    const got = await cli(["get", ...peer, "node.bin", "--out", out]);
    assert.equal(got.code, 0, got.stderr);
    assert.equal(sha256(readFileSync(out)), sha256(readFileSync(source)));
  } finally {
    await stop(server);
  }
});

/** Starts a CLI server and checks its first line against `listening` (whose group 1 is returned). */
async function startListening(args: string[], listening: RegExp): Promise<[Running, string]> {
  const [command, prefix] = runtimeCommand("cli.ts");
  const server = start(command, [...prefix, ...args]);
  const first = await line(server, 0);
  const match = listening.exec(first);
  assert.ok(match, `first line was ${JSON.stringify(first)}; stderr: ${server.stderr()}`);
  return [server, match[1] ?? ""];
}

test(
  "put and get --unix round-trip a file over a unix socket, whose file is gone after SIGTERM",
  T,
  async () => {
    const serverDir = dirs.make("framed-files-");
    const clientDir = dirs.make("framed-client-");
    const path = join(dirs.make("framed-sock-"), "files.sock");
    const [server] = await startListening(
      ["file-server", "--dir", serverDir, "--unix", path],
      /^listening on unix:(.+)$/,
    );
    try {
      for (const api of ["native", "node"]) {
        const source = tempFile(clientDir, `unix-${api}.bin`, 300_000);
        const put = await cli(["put", "--unix", path, "--api", api, source]);
        assert.equal(put.code, 0, `--api ${api}: ${put.stderr}`);
        assert.match(put.stdout, new RegExp(`^uploaded unix-${api}\\.bin: 300000 bytes`));
        const out = join(clientDir, `copy-${api}.bin`);
        const got = await cli([
          "get",
          "--unix",
          path,
          "--api",
          api,
          `unix-${api}.bin`,
          "--out",
          out,
        ]);
        assert.equal(got.code, 0, `--api ${api}: ${got.stderr}`);
        assert.equal(sha256(readFileSync(out)), sha256(readFileSync(source)));
      }
    } finally {
      await stop(server);
    }
    assert.equal(existsSync(path), false, "the socket file is gone once file-server has exited");
  },
);

test(
  "put and get --tls round-trip a file over TLS; a failed handshake is reported and serving goes on",
  T,
  async () => {
    const { dir: certs } = tlsFixtures();
    const serverDir = dirs.make("framed-files-");
    const clientDir = dirs.make("framed-client-");
    const [server, port] = await startListening(
      [
        "file-server",
        "--dir",
        serverDir,
        "--tls-cert",
        join(certs, "cert.pem"),
        "--tls-key",
        join(certs, "key.pem"),
      ],
      /^listening on 127\.0\.0\.1:(\d+) \(TLS\)$/,
    );
    try {
      // A plain client: its request is not TLS, so its handshake fails and it gets no reply.
      const plain = await RawPeer.connect(Number(port));
      try {
        await plain.send(jsonFrame({ op: "get", file_name: "x", file_size: 0 })).catch(() => {});
        assert.equal(await plain.readFrame("file_size", 10_000), null, "no reply in plain TCP");
      } finally {
        plain.close();
      }
      await eventually(
        "the failed handshake is reported on stderr",
        () =>
          /framed file-server: TLS handshake with 127\.0\.0\.1:\d+ failed/.test(server.stderr()),
      );
      const peer = ["--port", port, "--tls", "--ca", join(certs, "ca.pem")];
      for (const api of ["native", "node"]) {
        const source = tempFile(clientDir, `tls-${api}.bin`, 2 * 1024 * 1024 + 3);
        const put = await cli(["put", ...peer, "--api", api, source]);
        assert.equal(put.code, 0, `--api ${api}: ${put.stderr}`);
        const out = join(clientDir, `copy-${api}.bin`);
        const got = await cli(["get", ...peer, "--api", api, `tls-${api}.bin`, "--out", out]);
        assert.equal(got.code, 0, `--api ${api}: ${got.stderr}`);
        assert.equal(sha256(readFileSync(out)), sha256(readFileSync(source)));
      }
    } finally {
      await stop(server);
    }
  },
);

test("an upload whose sha256 does not match is refused and leaves no file behind", T, async () => {
  const dir = dirs.make("framed-files-");
  const [server, port] = await startCli(["file-server", "--dir", dir]);
  try {
    const reply = await putRequest(port, "x.bin", randomBytes(100_000), "0".repeat(64));
    assert.equal(reply.header.ok, false);
    assert.match(String(reply.header.error), /sha256 mismatch/);
    assert.deepEqual(readdirSync(dir), []);
    // The same server still accepts a correct upload.
    const good = await putRequest(port, "ok.bin", new Uint8Array([1, 2, 3]));
    assert.equal(good.header.ok, true);
    assert.deepEqual(readdirSync(dir), ["ok.bin"]);
  } finally {
    await stop(server);
  }
});

test("path traversal and hidden names are refused, whatever client connects", T, async () => {
  const root = dirs.make("framed-files-");
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
      const put = await putRequest(port, name, new Uint8Array([1]));
      assert.equal(put.header.ok, false, `put ${JSON.stringify(name)}`);
      const get = await getRequest(port, name);
      assert.equal(get.header.ok, false, `get ${JSON.stringify(name)}`);
    }
    assert.deepEqual(readdirSync(root), ["served"]);
    assert.deepEqual(readdirSync(dir), []);
  } finally {
    await stop(server);
  }
});

test(
  "get refuses a symbolic link, wherever it points, and serves nothing through it",
  T,
  async () => {
    const root = dirs.make("framed-files-");
    const dir = join(root, "served");
    mkdirSync(dir);
    writeFileSync(join(root, "secret.txt"), "top secret, outside the served folder");
    writeFileSync(join(dir, "public.txt"), "public");
    symlinkSync(join(root, "secret.txt"), join(dir, "escape"));
    symlinkSync("public.txt", join(dir, "alias"));
    const [server, port] = await startCli(["file-server", "--dir", dir]);
    try {
      for (const name of ["escape", "alias"]) {
        const reply = await getRequest(port, name);
        assert.equal(reply.header.ok, false, `get ${name}`);
        assert.match(String(reply.header.error), /is a symbolic link; refusing to follow it/);
        assert.equal(reply.body.length, 0);
      }
      const plain = await getRequest(port, "public.txt");
      assert.equal(plain.header.ok, true);
      assert.equal(Buffer.from(plain.body).toString(), "public");
    } finally {
      await stop(server);
    }
  },
);

test(
  "put refuses a name that is a symbolic link and leaves the link and its target alone",
  T,
  async () => {
    const root = dirs.make("framed-files-");
    const dir = join(root, "served");
    mkdirSync(dir);
    const target = join(root, "target.txt");
    writeFileSync(target, "original");
    symlinkSync(target, join(dir, "link"));
    const [server, port] = await startCli(["file-server", "--dir", dir]);
    try {
      const reply = await putRequest(port, "link", new TextEncoder().encode("overwritten"));
      assert.equal(reply.header.ok, false);
      assert.match(String(reply.header.error), /is a symbolic link; refusing to replace it/);
      assert.equal(readFileSync(target, "utf8"), "original");
      assert.ok(lstatSync(join(dir, "link")).isSymbolicLink());
      assert.deepEqual(readdirSync(dir), ["link"], "no temporary file is left behind");
    } finally {
      await stop(server);
    }
  },
);

test(
  "names are limited in UTF-8 bytes so that the temporary name fits 255; longer ones get a reply",
  T,
  async () => {
    const dir = dirs.make("framed-files-");
    const [server, port] = await startCli(["file-server", "--dir", dir]);
    try {
      assert.equal(MAX_NAME_BYTES, 236, "255 minus the 19 bytes of `.NAME.<12 hex>.part`");
      const body = new Uint8Array([7]);
      const fits = ["a".repeat(236), "é".repeat(118)]; // 236 bytes each
      for (const name of fits) {
        const reply = await putRequest(port, name, body);
        assert.equal(reply.header.ok, true, `${name.length} characters: ${reply.header.error}`);
        const get = await getRequest(port, name);
        assert.equal(get.header.ok, true);
      }
      // 237 to 255 bytes used to pass the check and fail on the temporary name, with no reply.
      for (const name of ["a".repeat(237), "a".repeat(255), "é".repeat(119), "a".repeat(300)]) {
        const bytes = Buffer.byteLength(name);
        const put = await putRequest(port, name, body);
        assert.equal(put.header.ok, false, `put of a ${bytes}-byte name`);
        assert.match(
          String(put.header.error),
          new RegExp(`${bytes} bytes in UTF-8; the limit is 236`),
        );
        const get = await getRequest(port, name);
        assert.equal(get.header.ok, false, `get of a ${bytes}-byte name`);
      }
      assert.deepEqual(readdirSync(dir).sort(), fits.sort(), "no temporary file is left behind");
    } finally {
      await stop(server);
    }
  },
);

test(
  "a put or get naming a directory gets a refusal reply and leaves nothing behind",
  T,
  async () => {
    const dir = dirs.make("framed-files-");
    mkdirSync(join(dir, "sub"));
    const [server, port] = await startCli(["file-server", "--dir", dir]);
    try {
      const put = await putRequest(port, "sub", randomBytes(1000));
      assert.equal(put.header.ok, false);
      assert.match(String(put.header.error), /sub exists and is not a regular file/);
      const get = await getRequest(port, "sub");
      assert.equal(get.header.ok, false);
      assert.match(String(get.header.error), /sub is not a regular file/);
      assert.deepEqual(readdirSync(dir), ["sub"]);
    } finally {
      await stop(server);
    }
  },
);

test(
  "a rename that fails is a refusal reply and removes the temporary file",
  T,
  async () => {
    const dir = dirs.make("framed-files-");
    const [server, port] = await startCli(["file-server", "--dir", dir]);
    const peer = await RawPeer.connect(port);
    try {
      const body = randomBytes(200_000);
      await peer.send(
        jsonFrame({
          op: "put",
          file_name: "late.bin",
          file_size: body.length,
          sha256: sha256(body),
        }),
      );
      await peer.send(body.subarray(0, 1000));
      await eventually("the upload started", () => readdirSync(dir).length === 1);
      // A directory appears under the name before the upload ends: the rename must fail.
      mkdirSync(join(dir, "late.bin"));
      await peer.send(body.subarray(1000));
      const reply = await peer.readFrame("file_size");
      assert.ok(reply !== null, "the server replied");
      assert.equal(reply.header.ok, false);
      assert.match(String(reply.header.error), /^cannot store late\.bin: /);
      assert.deepEqual(readdirSync(dir), ["late.bin"], "no temporary file is left behind");
    } finally {
      peer.close();
      await stop(server);
    }
  },
);

// ── A full disk, on a 1 MiB tmpfs ────────────────────────────────────────────────────────────

/** Why a tmpfs cannot be mounted here (not root, no mount(8), a container that forbids it). */
async function tmpfsProblem(): Promise<string | null> {
  const probe = mkdtempSync(join(tmpdir(), "framed-tmpfs-probe-"));
  try {
    const mounted = await run("mount", ["-t", "tmpfs", "-o", "size=1m", "tmpfs", probe], 10_000)
      .catch((error) => ({ code: -1, stdout: "", stderr: String(error) }));
    if (mounted.code !== 0) return `mount -t tmpfs failed: ${mounted.stderr.trim()}`;
    await run("umount", [probe], 10_000);
    return null;
  } finally {
    rmSync(probe, { recursive: true, force: true });
  }
}

const noTmpfs = await tmpfsProblem();
// CI sets FRAMED_REQUIRE_ALL_TESTS=1: there, a test that cannot run is a failure, not a skip.
const requireAll = process.env.FRAMED_REQUIRE_ALL_TESTS === "1";
if (noTmpfs !== null) console.log(`disk-full test: ${noTmpfs}`);

test(
  "a full disk is a refusal reply the client prints; no temporary file stays; the server goes on",
  { ...T, skip: noTmpfs !== null && !requireAll ? `cannot mount a tmpfs: ${noTmpfs}` : false },
  async () => {
    assert.equal(noTmpfs, null, `FRAMED_REQUIRE_ALL_TESTS=1, but ${noTmpfs}`);
    const dir = dirs.make("framed-full-");
    const mounted = await run("mount", ["-t", "tmpfs", "-o", "size=1m", "tmpfs", dir], 10_000);
    assert.equal(mounted.code, 0, mounted.stderr);
    try {
      const [server, port] = await startCli(["file-server", "--dir", dir]);
      try {
        const reply = await putRequest(port, "big.bin", randomBytes(2 * 1024 * 1024));
        assert.equal(reply.header.ok, false);
        assert.match(
          String(reply.header.error),
          /^cannot store big\.bin: no space left on device$/,
        );
        assert.deepEqual(readdirSync(dir), [], "the temporary file is removed");
        // Through the CLI client: the refusal is what it prints.
        const source = tempFile(dirs.make("framed-client-"), "big.bin", 2 * 1024 * 1024);
        const put = await cli(["put", "--port", String(port), source]);
        assert.equal(put.code, 1);
        assert.equal(
          put.stderr.trim(),
          "framed put: cannot store big.bin: no space left on device",
        );
        assert.deepEqual(readdirSync(dir), []);
        const small = await putRequest(port, "small.bin", randomBytes(10_000));
        assert.equal(small.header.ok, true, "the server still serves");
      } finally {
        await stop(server);
      }
    } finally {
      const unmounted = await run("umount", [dir], 10_000);
      if (unmounted.code !== 0) await run("umount", ["-l", dir], 10_000);
    }
  },
);

// ── Temporary files and the server's lifetime ────────────────────────────────────────────────

for (const [signal, uploads] of [["SIGTERM", 1000], ["SIGINT", 100]] as const) {
  test(
    `${signal} during ${uploads.toLocaleString("en")} uploads leaves no temporary file behind`,
    T,
    async () => {
      const dir = dirs.make("framed-files-");
      const [server, port] = await startCli(["file-server", "--dir", dir]);
      const peers: RawPeer[] = [];
      try {
        const part = new Uint8Array(1000);
        for (let i = 0; i < uploads; i++) {
          const peer = await RawPeer.connect(port);
          peers.push(peer);
          // 1,000 of 10,000 bytes: each upload stays open, its temporary file on disk.
          const header = {
            op: "put",
            file_name: `f${i}.bin`,
            file_size: 10_000,
            sha256: "0".repeat(64),
          };
          void peer.send(jsonFrame(header, part)).catch(() => {});
        }
        await eventually(
          `${uploads} uploads in progress`,
          () => readdirSync(dir).length === uploads,
          60_000,
        );
        assert.ok(readdirSync(dir).every((name) => /^\.f\d+\.bin\.[0-9a-f]{12}\.part$/.test(name)));
        await stop(server, signal);
        const left = readdirSync(dir);
        assert.equal(left.length, 0, `${left.length} temporary files left, e.g. ${left[0]}`);
      } finally {
        for (const peer of peers) peer.close();
        server.kill("SIGKILL");
      }
    },
  );
}

test("an upload its peer abandons, or resets, leaves no temporary file behind", T, async () => {
  const dir = dirs.make("framed-files-");
  const [server, port] = await startCli(["file-server", "--dir", dir]);
  try {
    for (const ending of ["end", "reset"] as const) {
      const peer = await RawPeer.connect(port);
      const header = {
        op: "put",
        file_name: `${ending}.bin`,
        file_size: 10_000,
        sha256: "0".repeat(64),
      };
      await peer.send(jsonFrame(header, new Uint8Array(1000)));
      await eventually("the upload started", () => readdirSync(dir).length === 1);
      if (ending === "end") peer.socket.end();
      else peer.socket.resetAndDestroy();
      await eventually(
        `the temporary file is removed after an ${ending}`,
        () => readdirSync(dir).length === 0,
      );
      peer.close();
    }
    const reply = await putRequest(port, "next.bin", randomBytes(100));
    assert.equal(reply.header.ok, true, "the server still serves");
  } finally {
    await stop(server);
  }
});

test("stale temporary files are removed at startup, and nothing else is", T, async () => {
  const dir = dirs.make("framed-files-");
  const stale = [".a.bin.0123456789ab.part", ".b c.bin.fedcba987654.part"];
  const keptFiles = ["keep.bin", ".hidden", "x.0123456789ab.part", ".short.part"];
  const keptDir = ".d.0123456789ab.part"; // a directory is never removed
  for (const name of [...stale, ...keptFiles]) writeFileSync(join(dir, name), "x");
  mkdirSync(join(dir, keptDir));
  const [server] = await startCli(["file-server", "--dir", dir]);
  try {
    assert.deepEqual(readdirSync(dir).sort(), [...keptFiles, keptDir].sort());
  } finally {
    await stop(server);
  }
  assert.match(server.stderr(), /removed 2 unfinished upload\(s\) left by an earlier run/);
});

test(
  "file-server refuses a missing --dir, or one that is not a directory, with exit 2",
  T,
  async () => {
    const root = dirs.make("framed-files-");
    writeFileSync(join(root, "file"), "");
    const cases: [string, RegExp][] = [
      [join(root, "missing"), /--dir .*missing: no such file or directory/],
      [join(root, "file"), /--dir .*file is not a directory/],
    ];
    for (const [dir, message] of cases) {
      // Bounded: a server that wrongly starts is killed after 15 s and fails the check.
      const result = await cli(["file-server", "--dir", dir], 15_000);
      assert.equal(result.code, 2, `--dir ${dir}: ${result.stdout}`);
      assert.match(result.stderr, message);
    }
    await assert.rejects(fileServer({ dir: join(root, "missing") }), /no such file or directory/);
  },
);

// ── Accepting ────────────────────────────────────────────────────────────────────────────────

test("peers that reset before they are accepted cannot stop the file server", T, async () => {
  const dir = dirs.make("framed-files-");
  const [server, port] = await startCli(["file-server", "--dir", dir]);
  try {
    // SO_LINGER 0: close() sends RST. On Deno's native adapter, accept() then throws NotConnected.
    const resets = await run("python3", [
      "-c",
      `import socket, struct, sys
for _ in range(int(sys.argv[2])):
    s = socket.socket()
    s.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack('ii', 1, 0))
    try:
        s.connect(('127.0.0.1', int(sys.argv[1])))
    except OSError:
        sys.exit('the server stopped accepting')
    s.close()`,
      String(port),
      "2000",
    ]);
    assert.equal(resets.code, 0, resets.stderr);
    const reply = await putRequest(port, "after.bin", randomBytes(1000));
    assert.equal(reply.header.ok, true, "the server still serves");
  } finally {
    await stop(server);
  }
});

test(
  "the accept loop skips per-connection errors at once, waits out resource errors, never ends",
  T,
  async () => {
    const dir = dirs.make("framed-files-");
    const real = await listenStreams({ port: 0 });
    const fail = (code: string, name = "Error") => Object.assign(new Error(code), { code, name });
    const errors = [
      fail("ECONNABORTED"),
      fail("ECONNRESET"),
      fail("ENOTCONN", "NotConnected"),
      fail("EMFILE"),
      fail("ENFILE"),
      fail("ENOBUFS"),
      new Error("something else"),
    ];
    const listener: ByteListener = {
      address: real.address,
      accept: () => {
        const error = errors.shift();
        return error === undefined ? real.accept() : Promise.reject(error);
      },
      close: () => real.close(),
    };
    const reported: string[] = [];
    const server = await fileServer({
      dir,
      listener,
      onError: (error) => reported.push((error as Error).message),
    });
    try {
      const reply = await putRequest(real.address.port, "through.bin", randomBytes(1000));
      assert.equal(reply.header.ok, true);
      assert.equal(errors.length, 0, "every error was met and the loop went on");
      assert.deepEqual(reported, ["something else"], "peer and resource errors are not noise");
    } finally {
      await server.close();
    }
  },
);

test(
  "the accept loop reports a failed TLS handshake and accepts the next peer at once, without backing off",
  T,
  async () => {
    const dir = dirs.make("framed-files-");
    const real = await listenStreams({ port: 0 });
    const handshake = new TlsError(netAddress("127.0.0.1", 40000), new Error("UnknownCA"));
    let calls = 0;
    let secondCall: () => void = () => {};
    const acceptedAgain = new Promise<string>((resolve) => (secondCall = () => resolve("again")));
    const listener: ByteListener = {
      address: real.address,
      accept: () => {
        if (++calls === 1) return Promise.reject(handshake);
        secondCall();
        return real.accept();
      },
      close: () => real.close(),
    };
    const reported: unknown[] = [];
    const server = await fileServer({ dir, listener, onError: (error) => reported.push(error) });
    try {
      // A backoff waits on a timer (50 ms); going on at once needs none, so it comes first.
      const first = await Promise.race([
        acceptedAgain,
        new Promise<string>((resolve) => setTimeout(() => resolve("a timer fired first"), 0)),
      ]);
      assert.equal(first, "again", "accept() was called again before any timer fired");
      assert.deepEqual(reported, [handshake], "the failed handshake is reported as it is");
      const reply = await putRequest(real.address.port, "after-tls.bin", randomBytes(1000));
      assert.equal(reply.header.ok, true, "the server still serves");
    } finally {
      await server.close();
    }
  },
);

// ── Limits ───────────────────────────────────────────────────────────────────────────────────

test("a file over --max-size is refused before any byte is written", T, async () => {
  const dir = dirs.make("framed-files-");
  const clientDir = dirs.make("framed-client-");
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

test(
  "a 512 MiB file streams through with RSS growing by less than 64 MiB on each side",
  T,
  async () => {
    const serverDir = dirs.make("framed-files-");
    const clientDir = dirs.make("framed-client-");
    const size = 512 * 1024 * 1024;
    const source = join(clientDir, "large.bin");
    // Written 1 MiB at a time, so the test itself never holds the file in memory.
    const block = randomBytes(1024 * 1024);
    const fd = openSync(source, "w");
    for (let i = 0; i < size / block.length; i++) writeSync(fd, block);
    closeSync(fd);
    const [server, port] = await startCli(["file-server", "--dir", serverDir]);
    try {
      // Growth, not absolute RSS: an idle runtime already differs (about 50 MiB for Deno, 80 MiB
      // for Node with tsx). The server's baseline is its RSS once listening; the client's, the peak
      // of the same CLI printing its `--help`.
      const serverStatus = async (field: string) =>
        Number(
          new RegExp(`${field}:\\s+(\\d+) kB`).exec(
            await readFile(`/proc/${server.pid}/status`, "utf8"),
          )![1],
        ) / 1024;
      const serverBaselineMiB = await serverStatus("VmRSS");
      const [command, prefix] = runtimeCommand("cli.ts");
      // Python runs the client and reports the child's peak RSS (ru_maxrss, KiB on Linux).
      const peakOf = async (args: string[]) => {
        const result = await run("python3", [
          "-c",
          "import resource,subprocess,sys; r=subprocess.run(sys.argv[1:]); print(resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss); sys.exit(r.returncode)",
          command,
          ...prefix,
          ...args,
        ], 300_000);
        assert.equal(result.code, 0, result.stderr);
        return Number(result.stdout.trim().split("\n").at(-1)) / 1024;
      };
      const clientBaselineMiB = await peakOf(["--help"]);
      const clientPeakMiB = await peakOf(["put", "--port", String(port), source]);
      const serverPeakMiB = await serverStatus("VmHWM");
      const clientGrowth = clientPeakMiB - clientBaselineMiB;
      const serverGrowth = serverPeakMiB - serverBaselineMiB;
      console.log(
        `512 MiB upload: client peak RSS ${clientPeakMiB.toFixed(1)} MiB (+${
          clientGrowth.toFixed(1)
        }), server ${serverPeakMiB.toFixed(1)} MiB (+${serverGrowth.toFixed(1)})`,
      );
      assert.ok(clientGrowth < 64, `client RSS grew by ${clientGrowth} MiB`);
      assert.ok(serverGrowth < 64, `server RSS grew by ${serverGrowth} MiB`);
      assert.equal(statSync(join(serverDir, "large.bin")).size, size);
    } finally {
      await stop(server);
    }
  },
);
