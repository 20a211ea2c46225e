// exec-server / exec: the remote command runner, through the CLI and through hand-built frames
// (tests/_raw_peer.ts), as a hostile peer and a careless operator would drive it.

import { after, test } from "node:test";
import assert from "node:assert/strict";
import { existsSync, readdirSync, readFileSync, writeFileSync } from "node:fs";
import { readFile } from "node:fs/promises";
import { join } from "node:path";
import process from "node:process";
import { execServer } from "../programs/exec.ts";
import { jsonFrame, RawPeer } from "./_raw_peer.ts";
import {
  eventually,
  line,
  processGone,
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

/** `--tls-cert` and `--tls-key` for the test certificate (valid for 127.0.0.1 and localhost). */
function serverTls(): string[] {
  const { dir } = tlsFixtures();
  return ["--tls-cert", join(dir, "cert.pem"), "--tls-key", join(dir, "key.pem")];
}

/** Sends one exec request as raw bytes and reads the reply frame (null: closed without one). */
async function rawExec(port: number, header: Record<string, unknown>, ms = 30_000) {
  const peer = await RawPeer.connect(port);
  try {
    await peer.send(jsonFrame({ data_size: 0, ...header }));
    return await peer.readFrame("data_size", ms);
  } finally {
    peer.close();
  }
}

/** Kills a process this test caused to exist (by its PID), if it still runs. */
function killIfRunning(pid: number): void {
  if (processGone(pid)) return;
  try {
    process.kill(pid, "SIGKILL");
  } catch {
    // Gone in between.
  }
}

test("exec-server and exec --api node run a command over node:net", T, async () => {
  const [server, port] = await startCli(["exec-server", "--api", "node"]);
  try {
    const result = await cli(["exec", "--port", String(port), "--api", "node", "--", "echo", "hi"]);
    assert.equal(result.code, 0, result.stderr);
    assert.equal(result.stdout, "hi");
  } finally {
    await stop(server);
  }
});

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

test(
  "exec-server says on stderr which client it dropped for bad input, and goes on serving",
  T,
  async () => {
    const [server, port] = await startCli(["exec-server"]);
    try {
      const peer = await RawPeer.connect(port);
      const peerPort = peer.socket.localPort;
      // A header announcing 2 GiB: refused from the length alone, that client closed.
      await peer.send(new Uint8Array([0x7f, 0xff, 0xff, 0xff]));
      await eventually(
        "the dropped client to be named on stderr",
        () => server.stderr().includes(`framed exec-server: 127.0.0.1:${peerPort}: `),
        10_000,
      );
      peer.close();
      const reply = await rawExec(port, { argv: ["true"] });
      assert.equal(reply?.header.ok, true, "a good client is still served");
    } finally {
      await stop(server);
    }
  },
);

test("a command that cannot start is a refusal reply, not a dropped connection", T, async () => {
  const [server, port] = await startCli(["exec-server"]);
  try {
    for (
      const argv of [["framed-no-such-program"], ["echo", "nul\0byte"], ["nul\0program"]]
    ) {
      const reply = await rawExec(port, { argv });
      assert.ok(reply !== null, `a reply to ${JSON.stringify(argv)}`);
      assert.equal(reply.header.ok, false);
      assert.match(String(reply.header.error), /^cannot run /);
    }
    const bad = await rawExec(port, { argv: "ls -l" });
    assert.equal(bad?.header.ok, false);
    assert.match(String(bad?.header.error), /argv must be a non-empty array of strings/);
  } finally {
    await stop(server);
  }
});

test("exec with a wrong token is refused and runs nothing", T, async () => {
  const dir = dirs.make("framed-exec-");
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
    // Raw frames: no token field, an empty one, a non-string one.
    for (const token of [undefined, "", "  ", 42, null]) {
      const reply = await rawExec(port, { argv: ["touch", marker], token });
      assert.equal(reply?.header.ok, false, `token ${JSON.stringify(token)}`);
      assert.match(String(reply?.header.error), /wrong or missing token/);
    }
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

test(
  "exec-server refuses a non-loopback address without both a token and TLS, saying what is missing",
  T,
  async () => {
    const tls = serverTls();
    const cases: [string[], RegExp][] = [
      [[], /on 0\.0\.0\.0 without --token and TLS \(--tls-cert and --tls-key\)/],
      [["--token", "s3cret"], /on 0\.0\.0\.0 without TLS \(--tls-cert and --tls-key\)/],
      [tls, /on 0\.0\.0\.0 without --token:/],
    ];
    for (const [args, message] of cases) {
      // Bounded: a server that wrongly starts is killed after 15 s and fails the check.
      const result = await cli(["exec-server", "--host", "0.0.0.0", ...args], 15_000);
      assert.equal(result.code, 2, `${args.join(" ")}: ${result.stdout}`);
      assert.match(result.stderr, message);
      assert.match(result.stderr, /exec-server needs both a token and TLS/);
    }
    // The library refuses the same, whoever calls it.
    await assert.rejects(execServer({ hostname: "0.0.0.0" }), /without --token and TLS/);
    await assert.rejects(execServer({ hostname: "0.0.0.0", token: "s3cret" }), /without TLS/);
    const { cert, key } = tlsFixtures();
    await assert.rejects(
      execServer({ hostname: "0.0.0.0", tls: { cert, key } }),
      /without --token:/,
    );
  },
);

test("exec over TLS with a token runs a command; a wrong token or CA runs nothing", T, async () => {
  const { dir: certs, otherCa } = tlsFixtures();
  const dir = dirs.make("framed-exec-");
  const otherCaFile = join(dir, "other-ca.pem");
  writeFileSync(otherCaFile, otherCa);
  const [server, port] = await startListening(
    ["exec-server", ...serverTls(), "--token", "s3cret"],
    /^listening on 127\.0\.0\.1:(\d+) \(TLS\)$/,
  );
  try {
    const peer = ["--port", port, "--tls", "--ca", join(certs, "ca.pem")];
    for (const api of ["native", "node"]) {
      const result = await cli([
        "exec",
        ...peer,
        "--api",
        api,
        "--token",
        "s3cret",
        "--",
        "echo",
        "hi",
      ]);
      assert.equal(result.code, 0, `--api ${api}: ${result.stderr}`);
      assert.equal(result.stdout, "hi");
    }
    const marker = join(dir, "ran");
    const wrongToken = await cli(["exec", ...peer, "--token", "guess", "--", "touch", marker]);
    assert.equal(wrongToken.code, 1);
    assert.match(wrongToken.stderr, /wrong or missing token/);
    const wrongCa = await cli([
      "exec",
      "--port",
      port,
      "--tls",
      "--ca",
      otherCaFile,
      "--token",
      "s3cret",
      "--",
      "touch",
      marker,
    ]);
    assert.equal(wrongCa.code, 1);
    assert.match(wrongCa.stderr, /^framed exec: TLS handshake with 127\.0\.0\.1:\d+ failed: /);
    // A plain client cannot talk to it: its request never reaches the command runner.
    const plain = await cli(["exec", "--port", port, "--token", "s3cret", "--", "touch", marker]);
    assert.notEqual(plain.code, 0);
    assert.equal(existsSync(marker), false, "nothing ran");
  } finally {
    await stop(server);
  }
});

test(
  "exec-server --unix serves exec --unix without a token, and removes its socket file",
  T,
  async () => {
    const path = join(dirs.make("framed-exec-"), "exec.sock");
    const [server] = await startListening(
      ["exec-server", "--unix", path],
      /^listening on unix:(.+)$/,
    );
    try {
      const result = await cli(["exec", "--unix", path, "--", "echo", "local"]);
      assert.equal(result.code, 0, result.stderr);
      assert.equal(result.stdout, "local");
    } finally {
      await stop(server);
    }
    assert.equal(existsSync(path), false, "the socket file is gone once exec-server has exited");
  },
);

test(
  "exec-server refuses an empty or whitespace --token with a usage error, on any address",
  T,
  async () => {
    for (
      const args of [["--token", ""], ["--token", " \t "], ["--host", "0.0.0.0", "--token", ""]]
    ) {
      // Bounded: a server that wrongly starts is killed after 15 s and fails the check.
      const result = await cli(["exec-server", ...args], 15_000);
      assert.equal(result.code, 2, `exec-server ${args.join(" ")}: ${result.stderr}`);
      assert.match(result.stderr, /--token: the token must not be empty or whitespace/);
    }
    // The client too: no server accepts a blank token.
    const client = await cli(["exec", "--port", "9", "--token", " ", "--", "true"]);
    assert.equal(client.code, 2, client.stderr);
    assert.match(client.stderr, /--token: the token must not be empty or whitespace/);
    // The library refuses it too, whoever calls it.
    await assert.rejects(execServer({ token: "" }), /must not be empty/);
    await assert.rejects(execServer({ hostname: "0.0.0.0", token: "   " }), /must not be empty/);
  },
);

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

test(
  "--timeout kills the command's whole process group, grandchildren included, and replies",
  T,
  async () => {
    const dir = dirs.make("framed-exec-");
    const pidFile = join(dir, "grandchild.pid");
    const [server, port] = await startCli(["exec-server", "--timeout", "1"]);
    let grandchild = 0;
    try {
      // The shell waits for a grandchild that holds stdout: killing the shell alone would leave
      // the reply waiting 60 s for the pipe to close.
      const reply = await rawExec(port, {
        argv: ["sh", "-c", `sleep 60 & echo $! > ${pidFile}; wait`],
      }, 20_000);
      grandchild = Number(readFileSync(pidFile, "utf8"));
      assert.equal(reply?.header.ok, true);
      assert.equal(reply?.header.timed_out, true);
      await eventually(`grandchild ${grandchild} is killed`, () => processGone(grandchild), 10_000);
    } finally {
      if (grandchild > 0) killIfRunning(grandchild);
      await stop(server);
    }
  },
);

test(
  "a process that leaves the group and holds the pipes cannot hold the reply past the deadline",
  T,
  async () => {
    const dir = dirs.make("framed-exec-");
    const pidFile = join(dir, "escaped.pid");
    const [server, port] = await startCli(["exec-server", "--timeout", "1"]);
    let escaped = 0;
    try {
      // setsid(1) puts sleep in a session of its own, out of reach of the group kill, with the
      // reply's stdout and stderr pipes still open.
      const reply = await rawExec(port, {
        argv: ["sh", "-c", `setsid sleep 60 & echo $! > ${pidFile}; wait`],
      }, 20_000);
      escaped = Number(readFileSync(pidFile, "utf8"));
      assert.equal(reply?.header.ok, true);
      assert.equal(reply?.header.timed_out, true);
    } finally {
      if (escaped > 0) killIfRunning(escaped);
      await stop(server);
    }
  },
);

test("SIGTERM stops exec-server and kills the commands it is running", T, async () => {
  const dir = dirs.make("framed-exec-");
  const pidFile = join(dir, "child.pid");
  const [server, port] = await startCli(["exec-server", "--timeout", "60"]);
  let child = 0;
  const peer = await RawPeer.connect(port);
  try {
    await peer.send(jsonFrame({
      data_size: 0,
      argv: ["sh", "-c", `sleep 60 & echo $! > ${pidFile}; wait`],
    }));
    await eventually(
      "the command started",
      () => existsSync(pidFile) && readFileSync(pidFile, "utf8").trim() !== "",
    );
    child = Number(readFileSync(pidFile, "utf8"));
    await stop(server);
    await eventually(`command ${child} is killed`, () => processGone(child), 10_000);
  } finally {
    peer.close();
    if (child > 0) killIfRunning(child);
  }
});

test(
  "commands beyond --max-concurrent get a busy refusal at once; a finished one frees its slot",
  T,
  async () => {
    const dir = dirs.make("framed-exec-");
    const go = join(dir, "go");
    const [server, port] = await startCli([
      "exec-server",
      "--max-concurrent",
      "2",
      "--timeout",
      "60",
    ]);
    const peers = await Promise.all([RawPeer.connect(port), RawPeer.connect(port)]);
    try {
      // Two commands that say they started, then wait for the test's go.
      for (const [i, peer] of peers.entries()) {
        await peer.send(jsonFrame({
          data_size: 0,
          argv: ["sh", "-c", `touch ${dir}/started${i}; while [ ! -e ${go} ]; do sleep 0.05; done`],
        }));
      }
      await eventually("both commands started", () => readdirSync(dir).length === 2);
      const busy = await rawExec(port, { argv: ["true"] });
      assert.equal(busy?.header.ok, false);
      assert.match(String(busy?.header.error), /^busy: 2 commands are running/);
      writeFileSync(go, "");
      for (const peer of peers) {
        const reply = await peer.readFrame("data_size");
        assert.equal(reply?.header.ok, true);
        assert.equal(reply?.header.exit_code, 0);
      }
      const freed = await rawExec(port, { argv: ["echo", "again"] });
      assert.equal(freed?.header.ok, true);
      assert.equal(freed?.body.toString(), "again\n");
    } finally {
      for (const peer of peers) peer.close();
      await stop(server);
    }
  },
);

test("a peer that never reads its reply loses its slot after --timeout", T, async () => {
  const dir = dirs.make("framed-exec-");
  const started = join(dir, "started");
  const [server, port] = await startCli([
    "exec-server",
    "--max-concurrent",
    "1",
    "--timeout",
    "2",
  ]);
  // A Python peer sends its request and never reads: 32 MB of reply cannot all leave the server.
  const stuck = start("python3", [
    "-c",
    `import json, socket, struct, sys, time
s = socket.socket()
s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)  # no autotuning up to tcp_rmem's 32 MiB
s.connect(('127.0.0.1', int(sys.argv[1])))
head = json.dumps({"argv": ["sh", "-c", "touch " + sys.argv[2] + "; head -c 32000000 /dev/zero"], "data_size": 0}).encode()
s.sendall(struct.pack('>I', len(head)) + head)
time.sleep(60)`,
    String(port),
    started,
  ]);
  try {
    await eventually("the command started", () => existsSync(started));
    const busy = await rawExec(port, { argv: ["true"] });
    assert.match(String(busy?.header.error), /^busy/, "the stuck reply holds the only slot");
    // The reply stalls; after --timeout the server drops that connection and frees the slot.
    const deadline = Date.now() + 20_000;
    for (;;) {
      const reply = await rawExec(port, { argv: ["echo", "free"] });
      if (reply?.header.ok === true) break;
      assert.match(String(reply?.header.error), /^busy/);
      assert.ok(Date.now() < deadline, "the slot is freed within 20 s");
      await new Promise((resolve) => setTimeout(resolve, 100));
    }
  } finally {
    stuck.kill("SIGKILL");
    await stuck.exited;
    await stop(server);
  }
});

/** The peak resident memory of process `pid` so far, in MiB. */
async function peakRssMiB(pid: number): Promise<number> {
  const status = await readFile(`/proc/${pid}/status`, "utf8");
  return Number(/VmHWM:\s+(\d+) kB/.exec(status)![1]) / 1024;
}

test(
  "16 parallel floods of output keep the server's memory within its caps",
  T,
  async () => {
    const maxOutput = 16 * 1024 * 1024;
    const maxConcurrent = 4;
    const [server, port] = await startCli(["exec-server", "--max-output", String(maxOutput)]);
    try {
      const idleMiB = await peakRssMiB(server.pid);
      // Each command writes 100 MB; the server keeps 16 MiB of it (read, counted, dropped).
      const replies = await Promise.all(
        Array.from(
          { length: 16 },
          () => rawExec(port, { argv: ["head", "-c", "100000000", "/dev/zero"] }, 60_000),
        ),
      );
      const ran = replies.filter((r) => r?.header.ok === true);
      const busy = replies.filter((r) => /^busy/.test(String(r?.header.error)));
      assert.equal(ran.length + busy.length, 16, "each request ran or was refused as busy");
      assert.ok(ran.length >= 1 && ran.length <= maxConcurrent, `${ran.length} ran at once`);
      for (const reply of ran) {
        assert.equal(reply!.header.truncated, true);
        assert.equal(reply!.body.length, maxOutput);
      }
      const peakMiB = await peakRssMiB(server.pid);
      const capsMiB = (maxConcurrent * 2 * maxOutput) / 1024 / 1024; // stdout and stderr each
      console.log(
        `16 × 100 MB of output, ${ran.length} ran: server RSS ${idleMiB.toFixed(1)} MiB idle, ` +
          `${peakMiB.toFixed(1)} MiB peak; the caps allow ${capsMiB} MiB of kept output`,
      );
      // Twice the caps' worth over idle leaves room for garbage not yet collected and socket
      // buffers; keeping every request's output (or a second copy of it) needs far more.
      assert.ok(peakMiB - idleMiB < 2 * capsMiB, `server RSS grew by ${peakMiB - idleMiB} MiB`);
    } finally {
      await stop(server);
    }
  },
);

test("a request that carries a body is refused without buffering it", T, async () => {
  const [server, port] = await startCli(["exec-server"]);
  try {
    const peer = await RawPeer.connect(port);
    try {
      // data_size announces 1 GiB: the server must close, not wait for (or allocate) it.
      await peer.send(jsonFrame({ argv: ["true"], data_size: 1024 ** 3 }));
      assert.equal(await peer.read(1, 10_000), null, "closed without a reply");
    } finally {
      peer.close();
    }
    const ok = await rawExec(port, { argv: ["true"] });
    assert.equal(ok?.header.ok, true, "the server still serves");
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
    const out = join(dirs.make("framed-exec-"), "out");
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
