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
  /** Writes to the child's stdin (started with `{ stdin: "pipe" }`); resolves once written. */
  write(data: string | Uint8Array): Promise<void>;
  /** Ends the child's stdin (started with `{ stdin: "pipe" }`). */
  endInput(): Promise<void>;
}

/**
 * What a child reads on stdin: nothing (`/dev/null`, the default), these bytes then its end, or
 * `"pipe"` to write with {@linkcode Running.write} and end with {@linkcode Running.endInput}.
 */
export type StdinSpec = "pipe" | string | Uint8Array | undefined;

const noStdin = () => Promise.reject(new Error('start the child with { stdin: "pipe" }'));

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

export function start(command: string, args: string[], stdin?: StdinSpec): Running {
  return detectRuntime() === "deno"
    ? startWithDeno(command, args, stdin)
    : startWithNode(command, args, stdin);
}

function startWithNode(command: string, args: string[], stdin: StdinSpec): Running {
  const child: ChildProcess = spawn(command, args, {
    stdio: [stdin === undefined ? "ignore" : "pipe", "pipe", "pipe"],
  });
  const input = child.stdin;
  // A child that exits before reading all of its input makes the pipe fail with EPIPE: the test
  // looks at the exit code and output, so that error is not the test's failure.
  input?.on("error", () => {});
  const write = (data: string | Uint8Array) =>
    new Promise<void>((resolve, reject) =>
      input!.write(data, (error) => (error ? reject(error) : resolve()))
    );
  const endInput = () => new Promise<void>((resolve) => input!.end(resolve));
  if (stdin !== undefined && stdin !== "pipe") input!.end(stdin);
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
    write: stdin === "pipe" ? write : noStdin,
    endInput: stdin === "pipe" ? endInput : noStdin,
  };
}

// Deno's node:child_process reports the signal it sent as the cause of exit even when the child
// caught it and exited 0 (seen with Deno 2.9.6), so under Deno the real status comes from
// Deno.Command.
function startWithDeno(command: string, args: string[], stdin: StdinSpec): Running {
  const child = new Deno.Command(command, {
    args,
    stdin: stdin === undefined ? "null" : "piped",
    stdout: "piped",
    stderr: "piped",
  }).spawn();
  const input = stdin === undefined ? null : child.stdin.getWriter();
  // A child that exits before reading all of its input breaks the pipe; see startWithNode.
  const ignoreBrokenPipe = (error: unknown) => {
    if (!(error instanceof Deno.errors.BrokenPipe)) throw error;
  };
  const write = (data: string | Uint8Array) =>
    input!.write(typeof data === "string" ? new TextEncoder().encode(data) : data)
      .catch(ignoreBrokenPipe);
  const endInput = () => input!.close().catch(ignoreBrokenPipe);
  if (stdin !== undefined && stdin !== "pipe") void write(stdin).then(endInput);
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
    write: stdin === "pipe" ? write : noStdin,
    endInput: stdin === "pipe" ? endInput : noStdin,
  };
}

/**
 * Waits for stdout line `index`; fails the test when the child exits without it, or (killing the
 * child) after `ms`.
 */
export async function line(running: Running, index: number, ms = 30_000): Promise<string> {
  const deadline = Date.now() + ms;
  // A child that has exited prints no more: fail at once rather than at the deadline.
  let exit: number | string | undefined;
  void running.exited.then((code) => (exit = code));
  while (running.lines.length <= index) {
    if (exit !== undefined) {
      assert.fail(
        `the child exited (${exit}) after ${running.lines.length} stdout lines, without line ${index}; ` +
          `stderr: ${running.stderr()}`,
      );
    }
    if (Date.now() > deadline) {
      running.kill();
      assert.fail(`no stdout line ${index} within ${ms} ms; stderr: ${running.stderr()}`);
    }
    await new Promise((resolve) => setTimeout(resolve, 10));
  }
  return running.lines[index]!;
}

/** Resolves with the exit code, or fails the test (killing the child) after `ms`. */
export async function exitWithin(
  running: Running,
  ms: number,
  what: string,
): Promise<number | string> {
  let timer: ReturnType<typeof setTimeout> | undefined;
  const timeout = new Promise<"timeout">((resolve) => {
    timer = setTimeout(() => resolve("timeout"), ms);
  });
  const code = await Promise.race([running.exited, timeout]);
  clearTimeout(timer);
  if (code === "timeout") {
    running.kill("SIGKILL");
    assert.fail(`${what}: still running after ${ms} ms; stderr: ${running.stderr()}`);
  }
  return code;
}

/** Runs to completion within `ms`; returns exit code, stdout and stderr. */
export async function run(
  command: string,
  args: string[],
  ms = 60_000,
  stdin?: Exclude<StdinSpec, "pipe">,
): Promise<{ code: number | string; stdout: string; stderr: string }> {
  const running = start(command, args, stdin);
  const timer = setTimeout(() => running.kill("SIGKILL"), ms);
  const code = await running.exited;
  clearTimeout(timer);
  return { code, stdout: running.lines.join("\n"), stderr: running.stderr() };
}

/** Runs `cli.ts ARGS` under the current runtime to completion. */
export function runCli(
  args: string[],
  ms?: number,
  stdin?: Exclude<StdinSpec, "pipe">,
): ReturnType<typeof run> {
  const [command, prefix] = runtimeCommand("cli.ts");
  return run(command, [...prefix, ...args], ms, stdin);
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

/**
 * Waits until the child's stderr so far matches `pattern` (for servers that keep stdout for data,
 * like `listen`); returns the match. Fails the test (and kills the child) after `ms`.
 */
export async function stderrMatch(
  running: Running,
  pattern: RegExp,
  ms = 30_000,
): Promise<RegExpExecArray> {
  const deadline = Date.now() + ms;
  for (;;) {
    const match = pattern.exec(running.stderr());
    if (match !== null) return match;
    if (Date.now() > deadline) {
      running.kill();
      assert.fail(`stderr did not match ${pattern} within ${ms} ms; stderr: ${running.stderr()}`);
    }
    await new Promise((resolve) => setTimeout(resolve, 10));
  }
}
