// Many processes behind a real load balancer: HAProxy (Debian's `haproxy`) in front of three
// `framed echo --proxy-protocol v2 --verbose` processes, two in the running runtime and one in the
// other (Deno and Bun), with send-proxy-v2 and health checks. Clients connect from several
// loopback addresses (Python, which can bind a source address in every runtime's CI); the
// backends must log the true client addresses, survive one of them being killed, and refuse a
// client that bypasses HAProxy without a PROXY header.

import { test } from "node:test";
import assert from "node:assert/strict";
import { execFileSync } from "node:child_process";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { connect as connectTcp, createServer } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import process from "node:process";
import { detectRuntime } from "../mod.ts";
import { run, type Running, start, startCli } from "./_process.ts";
import { otherRuntimes, peerArgs, peerRuntime } from "./peers/_runtimes.ts";
import { waitFor } from "./_helpers.ts";

const runtime = detectRuntime();
const requireAll = process.env.FRAMED_REQUIRE_ALL_TESTS === "1";

function haproxyBinary(): string | null {
  for (const candidate of ["haproxy", "/usr/sbin/haproxy"]) {
    try {
      execFileSync(candidate, ["-v"], { stdio: "ignore" });
      return candidate;
    } catch {
      // not this one
    }
  }
  return null;
}

const haproxy = haproxyBinary();
const other = otherRuntimes()[0]!;
const T = {
  timeout: 90_000,
  // Deno and Bun run the backends; under Node the same test would only repeat them.
  skip: runtime === "node"
    ? "the Deno and Bun runs cover it"
    : haproxy === null && !requireAll
    ? "haproxy is not installed (apt-get install haproxy; .ci/run installs it)"
    : peerRuntime(other).skip,
};

/** A free loopback port (bound, then let go: HAProxy binds it next). */
async function freePort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const { port } = server.address() as { port: number };
  await new Promise((resolve) => server.close(resolve));
  return port;
}

/** Whether a TCP connection to 127.0.0.1:`port` is accepted (then closed at once). */
function accepts(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = connectTcp({ host: "127.0.0.1", port });
    socket.once("connect", () => {
      socket.destroy();
      resolve(true);
    });
    socket.once("error", () => resolve(false));
  });
}

/** `framed echo --proxy-protocol v2 --verbose` in the running runtime, or in the other one. */
async function backend(inOther: boolean): Promise<{ server: Running; port: number }> {
  const flags = [
    "echo",
    "--framing",
    "length",
    "--port",
    "0",
    "--proxy-protocol",
    "v2",
    "--verbose",
  ];
  const [server, port] = await startCli(
    flags,
    inOther ? [peerRuntime(other).binary, peerArgs(other, [], "cli.ts")] : undefined,
  );
  return { server, port };
}

/** Python clients from each source address: one frame each, printing "SRC PORT REPLY". */
const CLIENTS = `
import socket, struct, sys
port = int(sys.argv[1])
for src in sys.argv[2:]:
    s = socket.create_connection(("127.0.0.1", port), timeout=10, source_address=(src, 0))
    body = ("hello from " + src).encode()
    s.sendall(struct.pack(">I", len(body)) + body)
    data = b""
    while len(data) < 4 + len(body):
        chunk = s.recv(65536)
        if not chunk:
            break
        data += chunk
    print(src, s.getsockname()[1], data[4:].decode())
    s.close()
`;

async function clients(port: number, sources: string[]): Promise<string[]> {
  const result = await run("python3", ["-c", CLIENTS, String(port), ...sources], 30_000);
  assert.equal(result.code, 0, result.stderr);
  return result.stdout.split("\n").filter((l) => l !== "");
}

async function withHaproxy(
  body: (setup: { port: number; backends: { server: Running; port: number }[] }) => Promise<void>,
): Promise<void> {
  assert.ok(haproxy !== null, "FRAMED_REQUIRE_ALL_TESTS=1, but haproxy is not installed");
  const backends = [await backend(false), await backend(false), await backend(true)];
  const dir = mkdtempSync(join(tmpdir(), "framed-haproxy-"));
  const port = await freePort();
  const servers = backends.map((b, i) =>
    `    server s${i} 127.0.0.1:${b.port} send-proxy-v2 check check-send-proxy inter 200ms fall 2 rise 1`
  );
  // The configuration docs/scaling.md shows, with quick health checks and retries: a connection
  // refused by a dead server is sent to another (redispatch) before the checks mark it down.
  writeFileSync(
    join(dir, "haproxy.cfg"),
    [
      "defaults",
      "    mode tcp",
      "    timeout connect 2s",
      "    timeout client 30s",
      "    timeout server 30s",
      "    retries 3",
      "    option redispatch",
      "frontend framed",
      `    bind 127.0.0.1:${port}`,
      "    default_backend framed_servers",
      "backend framed_servers",
      "    balance roundrobin",
      ...servers,
      "",
    ].join("\n"),
  );
  const proxy = start(haproxy!, ["-f", join(dir, "haproxy.cfg"), "-db"]);
  try {
    // Every backend has answered a health check (a LOCAL header) once it logs one connection.
    // HAProxy counts servers up from the start; wait until its frontend accepts connections.
    // (Not for a health check to show in the logs: a check that resets right after its LOCAL
    // header may be gone before the server hands the connection out, so it may log nothing.)
    const deadline = Date.now() + 20_000;
    while (!(await accepts(port))) {
      if (Date.now() > deadline) {
        const logs = backends.map((b) => `backend ${b.port}: ${b.server.stderr()}`).join("\n");
        assert.fail(`HAProxy never listened on ${port}: ${proxy.stderr()}\n${logs}`);
      }
      await new Promise((resolve) => setTimeout(resolve, 100));
    }
    await body({ port, backends });
  } finally {
    proxy.kill("SIGKILL");
    for (const b of backends) b.server.kill("SIGKILL");
    rmSync(dir, { recursive: true, force: true });
  }
}

const SOURCES = ["127.0.0.2", "127.0.0.3", "127.0.0.4", "127.0.0.5", "127.0.0.6", "127.0.0.7"];

test(
  `${runtime}: HAProxy with send-proxy-v2 in front of three processes echoes clients from six addresses, and the backends log each true address`,
  T,
  async () => {
    await withHaproxy(async ({ port, backends }) => {
      const replies = await clients(port, SOURCES);
      assert.equal(replies.length, SOURCES.length, replies.join("\n"));
      const logs = backends.map((b) => b.server.stderr()).join("\n");
      for (const reply of replies) {
        const [src, clientPort, ...text] = reply.split(" ");
        assert.equal(text.join(" "), `hello from ${src}`);
        assert.ok(logs.includes(`connection from ${src}:${clientPort}\n`), `${src}:${clientPort}`);
      }
      // Round robin over three: every backend served some of the six.
      for (const b of backends) {
        assert.match(
          b.server.stderr(),
          /connection from 127\.0\.0\.[2-7]:/,
          `${b.port} served none`,
        );
      }
    });
  },
);

test(
  `${runtime}: with one of three backends killed behind HAProxy, every new client is still echoed`,
  T,
  async () => {
    await withHaproxy(async ({ port, backends }) => {
      backends[0]!.server.kill("SIGKILL");
      await backends[0]!.server.exited;
      const replies = await clients(port, [...SOURCES, ...SOURCES]);
      assert.equal(replies.length, 2 * SOURCES.length, replies.join("\n"));
      for (const reply of replies) {
        const [src, , ...text] = reply.split(" ");
        assert.equal(text.join(" "), `hello from ${src}`, "echoed by a surviving backend");
      }
    });
  },
);

test(
  `${runtime}: a client that bypasses HAProxy without a PROXY header is refused by the backend`,
  T,
  async () => {
    await withHaproxy(async ({ backends }) => {
      const target = backends[1]!;
      const replies = await clients(target.port, ["127.0.0.9"]);
      assert.deepEqual(replies.map((r) => r.split(" ").slice(2).join(" ")), [""], "no echo");
      await waitFor(
        () => /PROXY protocol header from 127\.0\.0\.9:\d+ refused/.test(target.server.stderr()),
        "the refusal on the backend's stderr",
      );
    });
  },
);
