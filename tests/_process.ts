// Child processes for tests: the CLI under the current runtime, and peers in other languages.
// Every child is bounded in time and killed by its own PID.

import { type ChildProcess, spawn } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import process from "node:process";
import assert from "node:assert/strict";
import { detectRuntime } from "../mod.ts";

/** The argv that runs a TypeScript file under the runtime running the tests. */
export function runtimeCommand(script: string, extraDenoFlags: string[] = []): [string, string[]] {
  const runtime = detectRuntime();
  return [
    process.execPath,
    runtime === "deno"
      ? ["run", "-A", ...extraDenoFlags, script]
      // Node runs TypeScript through tsx, a dev dependency.
      : runtime === "node"
      ? [
        ...extraDenoFlags.map((flag) => flag.replace(/^--v8-flags=/, "")),
        "--import",
        "tsx",
        script,
      ]
      : [script],
  ];
}

export interface Running {
  /** The child's process id. */
  pid: number;
  /** Sends a signal to the child (SIGTERM by default). */
  kill(signal?: "SIGTERM" | "SIGINT" | "SIGKILL"): void;
  /** Complete stdout lines so far. */
  lines: string[];
  stderr(): string;
  /** Resolves with the exit code (or the signal's name when a signal ended it). */
  exited: Promise<number | string>;
}

/** Collects text chunks into complete lines. */
function lineCollector(lines: string[]): { push(text: string): void; end(): void } {
  let partial = "";
  return {
    push(text) {
      const parts = (partial + text).split("\n");
      partial = parts.pop()!;
      lines.push(...parts);
    },
    end() {
      if (partial !== "") lines.push(partial);
    },
  };
}

export function start(command: string, args: string[]): Running {
  return detectRuntime() === "deno" ? startWithDeno(command, args) : startWithNode(command, args);
}

function startWithNode(command: string, args: string[]): Running {
  const child: ChildProcess = spawn(command, args, { stdio: ["ignore", "pipe", "pipe"] });
  const lines: string[] = [];
  const out = lineCollector(lines);
  let errors = "";
  child.stdout!.setEncoding("utf8");
  child.stderr!.setEncoding("utf8");
  child.stdout!.on("data", (text: string) => out.push(text));
  child.stderr!.on("data", (text: string) => (errors += text));
  const exited = new Promise<number | string>((resolve) => {
    child.on("close", (code, signal) => {
      out.end();
      resolve(code ?? signal ?? -1);
    });
    // A command that cannot start (not on the PATH): Bun emits only "error", never "close".
    child.on("error", (error) => {
      errors += String(error);
      resolve(-1);
    });
  });
  return {
    pid: child.pid!,
    kill: (signal) => void child.kill(signal),
    lines,
    stderr: () => errors,
    exited,
  };
}

// Deno's node:child_process reports the signal it sent as the cause of exit even when the child
// caught it and exited 0 (seen with Deno 2.9.6), so under Deno the real status comes from
// Deno.Command.
function startWithDeno(command: string, args: string[]): Running {
  const child = new Deno.Command(command, { args, stdin: "null", stdout: "piped", stderr: "piped" })
    .spawn();
  const lines: string[] = [];
  const out = lineCollector(lines);
  let errors = "";
  const pump = async (stream: ReadableStream<Uint8Array>, sink: (text: string) => void) => {
    for await (const text of stream.pipeThrough(new TextDecoderStream())) sink(text);
  };
  const reading = Promise.all([
    pump(child.stdout, out.push),
    pump(child.stderr, (t) => (errors += t)),
  ]);
  const exited = (async () => {
    const status = await child.status;
    await reading;
    out.end();
    return status.signal ?? status.code;
  })();
  return {
    pid: child.pid,
    kill: (signal = "SIGTERM") => {
      try {
        child.kill(signal);
      } catch {
        // Already exited.
      }
    },
    lines,
    stderr: () => errors,
    exited,
  };
}

/** Waits for stdout line `index`; fails the test (and kills the child) after `ms`. */
export async function line(running: Running, index: number, ms = 30_000): Promise<string> {
  const deadline = Date.now() + ms;
  while (running.lines.length <= index) {
    if (Date.now() > deadline) {
      running.kill();
      assert.fail(`no stdout line ${index} within ${ms} ms; stderr: ${running.stderr()}`);
    }
    await new Promise((resolve) => setTimeout(resolve, 10));
  }
  return running.lines[index]!;
}

/** Runs to completion within `ms`; returns exit code, stdout and stderr. */
export async function run(
  command: string,
  args: string[],
  ms = 60_000,
): Promise<{ code: number | string; stdout: string; stderr: string }> {
  const running = start(command, args);
  const timer = setTimeout(() => running.kill("SIGKILL"), ms);
  const code = await running.exited;
  clearTimeout(timer);
  return { code, stdout: running.lines.join("\n"), stderr: running.stderr() };
}

/** Runs `cli.ts ARGS` under the current runtime to completion. */
export function runCli(args: string[], ms?: number): ReturnType<typeof run> {
  const [command, prefix] = runtimeCommand("cli.ts");
  return run(command, [...prefix, ...args], ms);
}

/**
 * Starts a long-running `cli.ts` command (echo, exec-server, file-server), under the running
 * runtime unless `runWith` says how (another runtime's binary and arguments), checks that its
 * first line is exactly `listening on 127.0.0.1:PORT`, and returns it with the port.
 */
export async function startCli(
  args: string[],
  runWith: [string, string[]] = runtimeCommand("cli.ts"),
): Promise<[Running, number]> {
  const [command, prefix] = runWith;
  const server = start(command, [...prefix, ...args]);
  const first = await line(server, 0);
  const match = /^listening on 127\.0\.0\.1:(\d+)$/.exec(first);
  assert.ok(match, `first line was ${JSON.stringify(first)}; stderr: ${server.stderr()}`);
  return [server, Number(match[1])];
}

/** Signals a CLI server and checks that it exits 0, as the contract says. */
export async function stopCli(
  server: Running,
  signal: "SIGINT" | "SIGTERM" = "SIGTERM",
): Promise<void> {
  server.kill(signal);
  assert.equal(await server.exited, 0, `exits 0 on ${signal}; stderr: ${server.stderr()}`);
}

/** Temporary folders for one test file; call `removeAll` from the file's `after` hook. */
export function tempDirs(): { make(prefix: string): string; removeAll(): void } {
  const made: string[] = [];
  return {
    make(prefix) {
      const dir = mkdtempSync(join(tmpdir(), prefix));
      made.push(dir);
      return dir;
    },
    removeAll() {
      for (const dir of made.splice(0)) rmSync(dir, { recursive: true, force: true });
    },
  };
}

/** Whether process `pid` is gone (never started, reaped, or a zombie that will never run again). */
export function processGone(pid: number): boolean {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, "utf8");
    return stat.slice(stat.lastIndexOf(")") + 2).startsWith("Z");
  } catch {
    return true;
  }
}

/** Waits until `check()` holds; fails with `what` after `ms`. Polls every 20 ms. */
export async function eventually(what: string, check: () => boolean, ms = 30_000): Promise<void> {
  const deadline = Date.now() + ms;
  while (!check()) {
    if (Date.now() > deadline) assert.fail(`not within ${ms} ms: ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
}
