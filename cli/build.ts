/**
 * `npm run build:cli`: builds the `framed` command line into standalone files in `dist/`, and
 * writes `dist/build.json`, the list of what was built (tests/cli_binaries_test.ts runs each one).
 *
 * - `dist/framed-bun`: `bun build --compile`, Bun and the bundled CLI in one executable.
 * - `dist/framed-deno`: `deno compile`. It needs denort, Deno's runtime without its tooling, which
 *   `deno compile` downloads from Deno's servers (no npm package ships it). When that download
 *   fails, this says so in one line and builds the rest; `DENORT_BIN=/path/to/denort` builds it
 *   from a local copy.
 * - `dist/framed.mjs`: one ES module for Node (`node dist/framed.mjs …`, no tsx needed).
 *
 * Runs under Deno, Bun or Node (`deno run -A cli/build.ts`). Exits 0 when every artifact that
 * could be built was built, 1 when a build failed.
 *
 * @module
 */

import { spawnSync } from "node:child_process";
import { chmodSync, existsSync, mkdirSync, rmSync, statSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import process from "node:process";
import { fileURLToPath } from "node:url";

/** One entry of `dist/build.json`'s `binaries` (tests/cli_binaries_test.ts reads them). */
export interface Artifact {
  /** The runtime inside the file (or, for `framed.mjs`, the runtime that runs it). */
  runtime: "bun" | "deno" | "node";
  /** Where it is, relative to the repository's root. */
  path: string;
  /** How to run it: the command and the arguments before the CLI's own. */
  command: [string, string[]];
  built: boolean;
  /** Its size in bytes, when built. */
  bytes?: number;
  /** Why it was not built. */
  reason?: string;
  /** Its build failed (as opposed to: it could not be attempted here). */
  failed?: boolean;
}

const ROOT = fileURLToPath(new URL("..", import.meta.url));
const DIST = "dist";

/** A tool from this repository's node_modules (a dev dependency), else the one on the PATH. */
function tool(name: string): string {
  const local = join(ROOT, "node_modules", ".bin", name);
  return existsSync(local) ? local : name;
}

/** Runs a build step in the repository's root; returns its status and everything it printed. */
function step(command: string, args: string[]): { ok: boolean; output: string } {
  const result = spawnSync(command, args, {
    cwd: ROOT,
    encoding: "utf8",
    env: { ...process.env, NO_COLOR: "1" },
    // Compiling is a few seconds here; a download that hangs must not hang CI.
    timeout: 300_000,
    maxBuffer: 64 * 1024 * 1024,
  });
  const output = `${result.stdout ?? ""}${result.stderr ?? ""}${result.error ?? ""}`;
  return { ok: result.status === 0, output };
}

/** The flags that make a compiled binary ignore files in whatever directory it is started from. */
const BUN_STANDALONE = ["--no-compile-autoload-dotenv", "--no-compile-autoload-bunfig"];

/** Builds `path`; returns why it could not be built here, or nothing once it is built. */
type Builder = (path: string) => string | void;

/** A failed build step: what failed, in one line, and everything the step printed. */
class BuildError extends Error {
  constructor(what: string, readonly output: string) {
    super(`${what}: ${rootCause(output)}`);
  }
}

/**
 * The line that says why a step failed: the last two of the "Caused by:" chain deno prints, else its
 * first `error:` line, else the last line printed.
 */
function rootCause(output: string): string {
  const chain = output.split("Caused by:")[1]?.split("Stack backtrace:")[0] ?? "";
  const causes = [...chain.matchAll(/^\s*\d+: (.+)$/gm)].map((match) => match[1]!.trim());
  const cause = causes.length > 0
    ? causes.slice(-2).join(": ")
    : /^error: (.+)$/m.exec(output)?.[1] ?? output.trim().split("\n").at(-1);
  return cause?.trim() || "no output";
}

function buildBun(path: string): void {
  // --bytecode: `framed-bun --help` starts in about 15 ms instead of 45 ms. ESM bytecode needs
  // --compile and --format=esm (bun's default with --bytecode is CommonJS, which has no
  // top-level await: https://bun.com/docs/bundler/bytecode).
  const { ok, output } = step(tool("bun"), [
    "build",
    "--compile",
    "--bytecode",
    "--format=esm",
    ...BUN_STANDALONE,
    "cli.ts",
    "--outfile",
    path,
  ]);
  if (!ok) throw new BuildError("bun build --compile failed", output);
}

// -A less ffi and import: sockets (net), PEM files, file-server's directory and unix socket files
// (read, write), exec-server's children (run). env and sys were not needed by exec, put, get, unix
// echo or udp-demo under `deno run` with the four above (checked by hand, Deno 2.9.6); they stay so
// that Deno's node: layer (--api node, node:tls) never meets a permission error in the field.
const DENO_PERMISSIONS = [
  "--allow-net",
  "--allow-read",
  "--allow-write",
  "--allow-run",
  "--allow-env",
  "--allow-sys",
];

function buildDeno(path: string): string | void {
  const { ok, output } = step(tool("deno"), [
    "compile",
    ...DENO_PERMISSIONS,
    // package.json makes deno compile embed all of node_modules (244 MB of dev dependencies the
    // CLI never imports); the CLI needs only node: built-ins.
    "--exclude",
    "node_modules",
    // lib/runtime.ts loads the adapters with import(); deno compile follows literal specifiers,
    // and these say so explicitly (the node adapter serves --api node).
    ...["deno", "udp_deno", "node", "udp_node"].flatMap((name) => [
      "--include",
      `lib/adapters/${name}.ts`,
    ]),
    "--output",
    path,
    "cli.ts",
  ]);
  if (ok) return;
  // deno compile starts from denort, which it downloads from dl.deno.land unless DENORT_BIN names a
  // local copy; "Setting up base binary" is the step that failed when that download did (seen with
  // Deno 2.9.6 offline: "error sending request for url (https://dl.deno.land/release/v2.9.6/
  // denort-x86_64-unknown-linux-gnu.zip) … dns error").
  if (
    process.env.DENORT_BIN === undefined && /Setting up base binary/.test(output) &&
    /dl\.deno\.land/.test(output)
  ) {
    const url = /https:\/\/dl\.deno\.land\/[^\s)]+/.exec(output)![0];
    // The last line of the error's "Caused by:" chain is the root cause (DNS, refused, timeout).
    return `deno compile needs Deno's denort runtime, downloaded from ${url}, which is ` +
      `unreachable (${rootCause(output)}); set DENORT_BIN to a local denort to build it`;
  }
  throw new BuildError("deno compile failed", output);
}

function buildNodeBundle(path: string): void {
  const { ok, output } = step(tool("bun"), [
    "build",
    "--target=node",
    "--format=esm",
    "--banner=#!/usr/bin/env node",
    "cli.ts",
    "--outfile",
    path,
  ]);
  if (!ok) throw new BuildError("bun build --target=node failed", output);
  chmodSync(join(ROOT, path), 0o755);
}

const ARTIFACTS: [Pick<Artifact, "runtime" | "path" | "command">, Builder][] = [
  [{ runtime: "bun", path: `${DIST}/framed-bun`, command: [`${DIST}/framed-bun`, []] }, buildBun],
  [
    { runtime: "deno", path: `${DIST}/framed-deno`, command: [`${DIST}/framed-deno`, []] },
    buildDeno,
  ],
  [
    { runtime: "node", path: `${DIST}/framed.mjs`, command: ["node", [`${DIST}/framed.mjs`]] },
    buildNodeBundle,
  ],
];

/** Builds every artifact, writes dist/build.json, prints a summary; returns the exit code. */
function build(): number {
  mkdirSync(join(ROOT, DIST), { recursive: true });
  const artifacts: Artifact[] = [];
  for (const [what, builder] of ARTIFACTS) {
    // A file left by an earlier build must not pass for this one's.
    rmSync(join(ROOT, what.path), { force: true });
    const started = Date.now();
    try {
      const reason = builder(what.path);
      if (reason !== undefined) {
        artifacts.push({ ...what, built: false, reason });
        console.log(`not built: ${what.path}: ${reason}`);
        continue;
      }
      const bytes = statSync(join(ROOT, what.path)).size;
      artifacts.push({ ...what, built: true, bytes });
      const seconds = ((Date.now() - started) / 1000).toFixed(1);
      console.log(`built ${what.path}: ${(bytes / 1e6).toFixed(1)} MB in ${seconds} s`);
    } catch (error) {
      const reason = error instanceof Error ? error.message : String(error);
      if (error instanceof BuildError) console.error(error.output.trimEnd());
      console.error(`FAILED ${what.path}: ${reason}`);
      // Listed as failed, so that the binaries' tests fail for it instead of skipping it.
      artifacts.push({ ...what, built: false, failed: true, reason });
    }
  }
  writeFileSync(
    join(ROOT, DIST, "build.json"),
    JSON.stringify({ binaries: artifacts }, null, 2) + "\n",
  );
  return artifacts.some((a) => a.failed) ? 1 : 0;
}

// Node 20 has no import.meta.main.
if (import.meta.main ?? process.argv[1]?.endsWith("build.ts")) process.exit(build());
