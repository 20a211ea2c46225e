// One process per core: several server processes on one port with reusePort (SO_REUSEPORT), the
// kernel spreading connections across them, and one of them leaving gracefully (a deploy) while
// clients keep sending requests: no request goes unanswered.

import { test } from "node:test";
import assert from "node:assert/strict";
import { connect, detectRuntime, type FramedConn } from "../mod.ts";
import { line, type Running, runtimeCommand, start } from "./_process.ts";

const runtime = detectRuntime();
const T = {
  timeout: 90_000,
  // Node 20's net module has no reusePort (22.12+ has); Deno and Bun run the servers.
  skip: runtime === "node" ? "Node 20's net module has no reusePort (Node 22.12+ has it)" : false,
};
const utf8 = new TextEncoder();
const text = new TextDecoder();

/** Starts `count` servers on one port; the first picks the port. */
async function servers(count: number): Promise<{ port: number; all: Running[] }> {
  const [command, args] = runtimeCommand("tests/peers/reuse_port_server.ts", ["--unstable-net"]);
  const first = start(command, [...args, "0"]);
  const port = Number((await line(first, 0)).split(" ")[1]);
  const all = [first];
  for (let i = 1; i < count; i++) {
    const next = start(command, [...args, String(port)]);
    assert.equal(await line(next, 0), `listening ${port}`, next.stderr());
    all.push(next);
  }
  return { port, all };
}

/** Sends `request`, returns the answering process's pid, or null when the connection ended. */
async function ask(conn: FramedConn<Uint8Array>, request: string): Promise<string | null> {
  try {
    await conn.writeFrame(utf8.encode(request));
    const reply = await conn.readFrame();
    if (reply === null) return null;
    const [pid, echoed] = text.decode(reply).split(" ");
    assert.equal(echoed, request, "the reply answers this request");
    return pid!;
  } catch {
    return null; // the server went away mid-request: ask again on a new connection
  }
}

test(
  `${runtime}: three processes on one port with reusePort each get some of 60 connections`,
  T,
  async () => {
    const { port, all } = await servers(3);
    try {
      const served = new Map<string, number>();
      for (let i = 0; i < 60; i++) {
        const conn = await connect({ port });
        const pid = await ask(conn, `hello-${i}`);
        assert.ok(pid !== null, `connection ${i} was answered`);
        served.set(pid, (served.get(pid) ?? 0) + 1);
        await conn.close();
      }
      // The kernel hashes each connection to a listener: that one of three gets none of 60 has
      // odds of (2/3)^60, about 3e-11.
      assert.deepEqual([...served.keys()].sort(), all.map((s) => String(s.pid)).sort());
    } finally {
      for (const server of all) server.kill("SIGKILL");
    }
  },
);

test(
  `${runtime}: a process leaving gracefully while clients send requests loses none of them`,
  T,
  async () => {
    const { port, all } = await servers(3);
    const [leaving, ...staying] = all as [Running, ...Running[]];
    try {
      const clients = 24;
      const requests = 30;
      const answered = new Map<string, number>();
      let reconnects = 0;
      let started = 0;
      const client = async (id: number) => {
        let conn = await connect({ port });
        for (let i = 0; i < requests; i++) {
          const request = `c${id}-r${i}`;
          let pid = await ask(conn, request);
          for (let attempt = 0; pid === null; attempt++) {
            assert.ok(attempt < 20, `${request} unanswered after 20 new connections`);
            reconnects++;
            conn.abort();
            conn = await connect({ port });
            pid = await ask(conn, request);
          }
          answered.set(pid, (answered.get(pid) ?? 0) + 1);
          started++;
          await new Promise((resolve) => setTimeout(resolve, 5)); // a client with think time
        }
        await conn.close();
      };
      const running = Array.from({ length: clients }, (_, id) => client(id));
      // Leave once the clients are well under way: some of them are connected to this process.
      const deadline = Date.now() + 30_000;
      while (started < clients * requests / 4 && Date.now() < deadline) {
        await new Promise((resolve) => setTimeout(resolve, 10));
      }
      // A request the leaving process is working on when told to leave is still answered.
      let slow = await connect({ port });
      for (let i = 0; (await ask(slow, `ping-${i}`)) !== String(leaving.pid); i++) {
        assert.ok(i < 200, "no connection reached the leaving process in 200 tries");
        await slow.close();
        slow = await connect({ port });
      }
      await slow.writeFrame(utf8.encode("slow-1"));
      await new Promise((resolve) => setTimeout(resolve, 100)); // it has read it and is working
      leaving.kill("SIGTERM");
      const slowReply = await slow.readFrame();
      assert.equal(slowReply && text.decode(slowReply), `${leaving.pid} slow-1`);
      assert.equal(await slow.readFrame(), null, "then a clean end of stream");
      await slow.close();
      await Promise.all(running);
      assert.equal(await leaving.exited, 0, `exits 0 after draining; ${leaving.stderr()}`);
      assert.match(leaving.lines.join("\n"), /drained \d+/);
      // Every reply the leaving process wrote reached its client: none lost in the drain.
      const written = Number(/replies (\d+)/.exec(leaving.lines.join("\n"))?.[1]);
      // (Two of them went to the slow connection: its last ping and slow-1.)
      assert.equal(
        (answered.get(String(leaving.pid)) ?? 0) + 2,
        written,
        "replies written = received",
      );
      const total = [...answered.values()].reduce((a, b) => a + b, 0);
      assert.equal(total, clients * requests, "every request was answered");
      assert.ok((answered.get(String(leaving.pid)) ?? 0) > 0, "the leaving process had clients");
      for (const server of staying) {
        assert.ok((answered.get(String(server.pid)) ?? 0) > 0, `process ${server.pid} served`);
      }
      // Whoever was connected to the leaving process moved to the others.
      assert.ok(reconnects > 0, "clients of the leaving process reconnected");
    } finally {
      for (const server of all) server.kill("SIGKILL");
    }
  },
);
