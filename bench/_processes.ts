// Starting the benchmark's processes: a bench/server.ts and a bench/client.ts of one runtime × API
// that run a list of cells, and any other child read line by line. Used by bench/run.ts, and by
// tests/bench_harness_test.ts to run tiny cells end to end.

import { spawn, spawnSync } from "node:child_process";
import os from "node:os";
import { fileURLToPath } from "node:url";
import process from "node:process";
import type { RuntimeName, SocketApi } from "../mod.ts";
import type { Cell } from "./_cells.ts";

/** The repository: every child runs here, so relative script paths work from anywhere. */
export const ROOT: string = fileURLToPath(new URL("..", import.meta.url));
const BIN = `${ROOT}node_modules/.bin`;

/** How to run a script of this repository in `runtime`. */
export function command(runtime: RuntimeName, script: string): [string, string[]] {
  if (runtime === "deno") return [`${BIN}/deno`, ["run", "-A", script]];
  if (runtime === "bun") return [`${BIN}/bun`, [script]];
  return [`${BIN}/tsx`, [script]]; // Node 20 cannot run .ts itself
}

/** The cores a pinned run uses: the server on one, the client on the other. */
export const CORES = { server: 0, client: 1 } as const;

/**
 * Whether processes can be pinned to cores: `taskset` (util-linux) runs, and there are two cores
 * to keep the server and the client apart.
 */
export function canPin(): boolean {
  if (os.cpus().length < 2) return false;
  try {
    return spawnSync("taskset", ["-c", String(CORES.client), "true"], { stdio: "ignore" })
      .status === 0;
  } catch {
    return false;
  }
}

/** `cmd args` run on `core` only (`taskset -c`), or as it is when `core` is undefined. */
export function onCore(
  [cmd, args]: [string, string[]],
  core: number | undefined,
): [string, string[]] {
  return core === undefined ? [cmd, args] : ["taskset", ["-c", String(core), cmd, ...args]];
}

/** The command that prints `runtime`'s version. */
export function versionCommand(runtime: RuntimeName): [string, string[]] {
  return [runtime === "node" ? "node" : `${BIN}/${runtime}`, ["--version"]];
}

/**
 * Runs a process in the repository; calls onLine for each stdout line; resolves when it exits.
 * It is killed after `timeoutMs` (default 10 minutes): no child may run unbounded.
 */
export function runProcess(
  cmd: string,
  args: string[],
  onLine: (line: string) => void,
  timeoutMs = 600_000,
): { done: Promise<number>; kill(): void } {
  const child = spawn(cmd, args, { cwd: ROOT, stdio: ["ignore", "pipe", "pipe"] });
  let partial = "";
  let stderr = "";
  child.stdout.setEncoding("utf8");
  child.stdout.on("data", (text: string) => {
    const lines = (partial + text).split("\n");
    partial = lines.pop()!;
    lines.forEach(onLine);
  });
  child.stderr.on("data", (text) => (stderr += text));
  const timer = setTimeout(() => child.kill("SIGKILL"), timeoutMs);
  const done = new Promise<number>((resolve) =>
    child.on("close", (code) => {
      clearTimeout(timer);
      if (code !== 0 && stderr) process.stderr.write(stderr.slice(-2000));
      resolve(code ?? 1);
    })
  );
  return { done, kill: () => child.kill() };
}

/** The first line a command prints, trimmed. */
export async function firstLine(cmd: string, args: string[]): Promise<string> {
  let out = "";
  await runProcess(cmd, args, (line) => (out ||= line.trim())).done;
  return out;
}

/** Where the cells' TLS certificates and unix sockets are. */
export interface CellPlaces {
  /** A directory with ca.pem, cert.pem and key.pem (tests/_tls_fixtures.ts): needed for TLS. */
  tlsDir?: string;
  /** A directory for the server's unix sockets: needed for unix. */
  unixDir?: string;
}

/** How the client measures. */
export interface CellTiming {
  /** mitata's minimum CPU time per cell, in milliseconds. */
  measureMs: number;
  /** Messages per sleep cell. */
  sleepMessages: number;
  /** Both processes are killed after this long (default 10 minutes). */
  timeoutMs?: number;
  /** Pin the server to core 0 and the client to core 1 (see {@linkcode canPin}). */
  pin?: boolean;
}

function placeArgs(places: CellPlaces): string[] {
  return [
    ...(places.tlsDir === undefined ? [] : ["--tls-dir", places.tlsDir]),
    ...(places.unixDir === undefined ? [] : ["--unix-dir", places.unixDir]),
  ];
}

async function startServer(
  runtime: RuntimeName,
  api: SocketApi,
  cells: readonly Cell[],
  places: CellPlaces,
  timeoutMs: number,
  core: number | undefined,
) {
  const [cmd, args] = onCore(command(runtime, "bench/server.ts"), core);
  const transports = [...new Set(cells.map((c) => c.transport ?? "tcp"))];
  let endpoints = "";
  const server = runProcess(cmd, [
    ...args,
    ...["--api", api, "--transports", transports.join(",")],
    ...placeArgs(places),
  ], (line) => {
    if (line.startsWith("listening {")) endpoints = line.slice("listening ".length);
  }, timeoutMs);
  let exited = false;
  void server.done.then(() => (exited = true));
  const deadline = Date.now() + 30_000;
  while (endpoints === "" && !exited && Date.now() < deadline) {
    await new Promise((r) => setTimeout(r, 20));
  }
  if (endpoints === "") {
    server.kill();
    throw new Error(`${runtime} ${api} server did not start`);
  }
  return { endpoints, server };
}

/**
 * Runs `cells` in order with one server and one client process of `runtime` × `api`; hands every
 * JSON event the client prints to `onEvent` (`start`, `result`, `rss`, `tls`). Resolves with the
 * client's exit code once both processes are gone.
 */
export async function runCells(
  runtime: RuntimeName,
  api: SocketApi,
  cells: readonly Cell[],
  timing: CellTiming,
  places: CellPlaces,
  onEvent: (event: Record<string, unknown>) => void,
): Promise<number> {
  const timeoutMs = timing.timeoutMs ?? 600_000;
  const pin = (core: number) => (timing.pin ? core : undefined);
  const { endpoints, server } = await startServer(
    runtime,
    api,
    cells,
    places,
    timeoutMs,
    pin(CORES.server),
  );
  const [cmd, args] = onCore(command(runtime, "bench/client.ts"), pin(CORES.client));
  const client = runProcess(cmd, [
    ...args,
    ...["--api", api, "--endpoints", endpoints, "--cells", JSON.stringify(cells)],
    ...["--time", String(timing.measureMs), "--messages", String(timing.sleepMessages)],
    ...placeArgs({ tlsDir: places.tlsDir }), // the client needs the CA; socket paths come in endpoints
  ], (line) => {
    if (line.startsWith("{")) onEvent(JSON.parse(line));
  }, timeoutMs);
  const code = await client.done;
  server.kill();
  await server.done;
  return code;
}
