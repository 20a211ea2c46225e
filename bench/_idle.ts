// The idle-connection check: how much memory a server spends per connection that is open and
// quiet, and how fast it accepts them. One server process (bench/idle_server.ts) per runtime × API
// × echo (framed, or the runtime's bare documented echo), one Bun client process
// (bench/idle_client.ts) that opens the connections. Used by bench/run.ts.

import { spawn } from "node:child_process";
import type { RuntimeName, SocketApi } from "../mod.ts";
import type { IdleRow } from "./_cells.ts";

const BIN = "node_modules/.bin";

/** How to start bench/idle_server.ts with a forced GC available (--expose-gc, or Bun.gc). */
function serverCommand(runtime: RuntimeName): [string, string[]] {
  const script = "bench/idle_server.ts";
  if (runtime === "deno") return [`${BIN}/deno`, ["run", "-A", "--v8-flags=--expose-gc", script]];
  if (runtime === "bun") return [`${BIN}/bun`, [script]];
  return [`${BIN}/tsx`, ["--expose-gc", script]]; // tsx hands node's flags to node
}

/** A child process spoken to by lines: commands on stdin, answers on stdout. */
class LineChild {
  readonly #child;
  readonly #lines: string[] = [];
  #wake: (() => void) | null = null;
  #stderr = "";
  readonly exited: Promise<number>;

  constructor(cmd: string, args: string[]) {
    this.#child = spawn(cmd, args, { stdio: ["pipe", "pipe", "pipe"] });
    let partial = "";
    this.#child.stdout!.setEncoding("utf8");
    this.#child.stdout!.on("data", (text: string) => {
      const lines = (partial + text).split("\n");
      partial = lines.pop()!;
      this.#lines.push(...lines);
      this.#wake?.();
    });
    this.#child.stderr!.on("data", (text) => (this.#stderr = (this.#stderr + text).slice(-2000)));
    this.#child.stdin!.on("error", () => {}); // the child may exit before reading everything
    this.exited = new Promise((resolve) => {
      this.#child.on("close", (code) => {
        resolve(code ?? 1);
        this.#wake?.();
      });
    });
  }

  send(line: string): void {
    this.#child.stdin!.write(line + "\n");
  }

  /** The next stdout line that matches `pattern`, or an error after `timeoutMs`. */
  async next(pattern: RegExp, timeoutMs: number): Promise<RegExpExecArray> {
    const deadline = Date.now() + timeoutMs;
    let exited = false;
    void this.exited.then(() => (exited = true));
    while (Date.now() < deadline) {
      while (this.#lines.length > 0) {
        const match = pattern.exec(this.#lines.shift()!);
        if (match !== null) return match;
      }
      if (exited) break;
      await new Promise<void>((resolve) => {
        this.#wake = resolve;
        setTimeout(resolve, Math.min(200, Math.max(1, deadline - Date.now())));
      });
      this.#wake = null;
    }
    throw new Error(
      `no line matching ${pattern} (${exited ? "exited" : "timed out"}) ${this.#stderr}`,
    );
  }

  /** Asks it to quit (`line` on stdin), then kills it if it has not exited within 3 s. */
  async stop(line: string): Promise<void> {
    this.send(line);
    this.#child.stdin!.end();
    const timer = setTimeout(() => this.#child.kill("SIGKILL"), 3_000);
    await this.exited;
    clearTimeout(timer);
  }
}

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

/** Options of {@linkcode idleCheck}. */
export interface IdleOptions {
  /** Connections to open and hold. */
  connections: number;
  /** How long the server is left alone before each measure, in milliseconds. */
  settleMs: number;
  /** The longest the client may take to open them all, in milliseconds. */
  deadlineMs: number;
}

/**
 * Holds `connections` idle connections against one server and reports its RSS growth per
 * connection (after a forced GC where possible), the growth per connection of the second half
 * alone, and the rate at which they were opened and echoed.
 */
export async function idleCheck(
  runtime: RuntimeName,
  api: SocketApi,
  echo: IdleRow["echo"],
  options: IdleOptions,
): Promise<IdleRow> {
  const [cmd, args] = serverCommand(runtime);
  const server = new LineChild(cmd, [...args, "--api", api, "--echo", echo]);
  let client: LineChild | null = null;
  try {
    const port = (await server.next(/^listening port=(\d+)$/, 30_000))[1]!;
    client = new LineChild(`${BIN}/bun`, [
      "bench/idle_client.ts",
      ...["--port", port, "--warmup", "50", "--window", "128"],
      ...["--deadline-ms", String(options.deadlineMs)],
    ]);
    await client.next(/^\{"type":"warm"/, options.deadlineMs + 10_000);
    const measure = async () => {
      await sleep(options.settleMs);
      server.send("measure");
      const [, rss, gc] = await server.next(/^rss bytes=(\d+) gc=(true|false)$/, 10_000);
      return { rss: Number(rss), gc: gc === "true" };
    };
    const hold = async (count: number) => {
      client!.send(`open ${count}`);
      const line = await client!.next(/^\{"type":"held"/, options.deadlineMs + 10_000);
      return JSON.parse(line.input) as { echoed: number; failed: number; seconds: number };
    };
    // Three readings: none held, half held, all held. The first half pays the runtime's one-time
    // costs (heap pages, compiled code); the second half shows what one more connection costs.
    const start = await measure();
    const half = Math.floor(options.connections / 2);
    const first = await hold(half);
    const middle = await measure();
    const second = await hold(options.connections - half);
    const end = await measure();
    client.send("close");
    const closed = JSON.parse((await client.next(/^\{"type":"closed"/, 10_000)).input) as {
      still_open: number;
    };
    const held = closed.still_open;
    const echoed = first.echoed + second.echoed;
    const seconds = first.seconds + second.seconds;
    const kib = (bytes: number, count: number) => (count > 0 ? bytes / 1024 / count : null);
    return {
      runtime,
      api,
      echo,
      connections: options.connections,
      held,
      failed: first.failed + second.failed,
      kib_per_conn: kib(end.rss - start.rss, held),
      kib_marginal: held === options.connections
        ? kib(end.rss - middle.rss, options.connections - half)
        : null,
      accept_per_s: echoed > 0 ? echoed / seconds : null,
      gc_forced: start.gc && middle.gc && end.gc,
      settle_ms: options.settleMs,
      kib_over_bare: null,
    };
  } finally {
    // Ending stdin also ends them: both exit when it closes (tsx's node child too, which a signal
    // to tsx would not reach).
    await Promise.all([client?.stop("close"), server.stop("quit")]);
  }
}
