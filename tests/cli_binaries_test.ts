// The standalone builds of the command line (`npm run build:cli`, listed in dist/build.json), driven
// as a user drives them: help, echo answering a Python peer and the build's own send, and connect
// turning stdin into frames. A build that could not be attempted here (the Deno binary without
// denort) skips with its reason; a build that failed, or no dist/build.json in CI, fails.

import { after, test } from "node:test";
import assert from "node:assert/strict";
import { existsSync, readFileSync } from "node:fs";
import process from "node:process";
import type { Artifact } from "../cli/build.ts";
import { run, runCli, type Running, startCli, stopCli } from "./_process.ts";

const T = { timeout: 120_000 };
const MANIFEST = "dist/build.json";
const RUNTIMES = ["bun", "deno", "node"] as const;
// CI sets FRAMED_REQUIRE_ALL_TESTS=1: there, a missing build is a failure, not a skip.
const requireAll = process.env.FRAMED_REQUIRE_ALL_TESTS === "1";

function readManifest(): Artifact[] | null {
  if (!existsSync(MANIFEST)) return null;
  return (JSON.parse(readFileSync(MANIFEST, "utf8")) as { binaries: Artifact[] }).binaries;
}

const manifest = readManifest();

// Servers a failed assertion left running; each test stops its own on success.
const running = new Set<Running>();
after(() => {
  for (const server of running) server.kill("SIGKILL");
});

async function startEcho(runWith: [string, string[]]): Promise<[Running, number]> {
  const [server, port] = await startCli(["echo", "--framing", "length", "--port", "0"], runWith);
  running.add(server);
  return [server, port];
}

async function stopEcho(server: Running): Promise<void> {
  await stopCli(server);
  running.delete(server);
}

/** The command names a `--help` lists under `commands:`. */
function commandNames(help: string): string[] {
  const section = help.split("\ncommands:\n")[1]?.split("\n\n")[0] ?? "";
  return section.split("\n").map((line) => line.trim().split(" ")[0]!).filter((n) => n !== "");
}

let sourceCommands: Promise<string[]> | undefined;
/** The commands of cli.ts as it is now (run once, under the runtime running the tests). */
function expectedCommands(): Promise<string[]> {
  sourceCommands ??= runCli(["--help"]).then((result) => {
    assert.equal(result.code, 0, result.stderr);
    return commandNames(result.stdout);
  });
  return sourceCommands;
}

for (const runtime of RUNTIMES) {
  const artifact = manifest?.find((entry) => entry.runtime === runtime);
  const name = artifact?.path ?? `the ${runtime} build`;
  // Why these tests cannot run here: a skip outside CI, a failure (below) inside it.
  const missing = manifest === null
    ? `${MANIFEST} is missing: run npm run build:cli`
    : artifact === undefined
    ? `${MANIFEST} lists no ${runtime} build: run npm run build:cli`
    : null;
  const skip = missing !== null && !requireAll
    ? missing
    : artifact !== undefined && !artifact.built && !artifact.failed
    ? `${artifact.path} was not built: ${artifact.reason}`
    : false;
  if (skip !== false) console.log(`skipping the ${runtime} build's tests: ${skip}`);

  /** Fails with the build's own reason when it failed or is missing; else how to run it. */
  const runWith = (): [string, string[]] => {
    if (missing !== null) assert.fail(`FRAMED_REQUIRE_ALL_TESTS=1, but ${missing}`);
    if (!artifact!.built) assert.fail(`${artifact!.path} failed to build: ${artifact!.reason}`);
    if (!existsSync(artifact!.path)) assert.fail(`${artifact!.path} is listed but missing`);
    return artifact!.command;
  };

  test(`${name} --help exits 0 and lists every command of cli.ts`, { ...T, skip }, async () => {
    const [command, prefix] = runWith();
    const result = await run(command, [...prefix, "--help"], 30_000);
    assert.equal(result.code, 0, result.stderr);
    const listed = commandNames(result.stdout);
    assert.ok(listed.includes("echo"), `no echo in:\n${result.stdout}`);
    assert.deepEqual(
      listed,
      await expectedCommands(),
      `${name} lists other commands than cli.ts: rebuild it with npm run build:cli`,
    );
  });

  test(
    `${name} echo --framing length --port 0 prints its listening line and echoes a Python peer`,
    { ...T, skip },
    async () => {
      const [echo, port] = await startEcho(runWith());
      const peer = await run("python3", [
        "tests/peers/struct_peer.py",
        "client",
        String(port),
        "length",
        "u32be",
      ]);
      assert.equal(peer.code, 0, peer.stderr);
      assert.equal(peer.stdout, "ok 57", "every frame comes back byte for byte");
      await stopEcho(echo);
    },
  );

  test(`${name} send gets every frame back from its own echo`, { ...T, skip }, async () => {
    const [command, prefix] = runWith();
    const [echo, port] = await startEcho([command, prefix]);
    const result = await run(command, [
      ...prefix,
      ...["send", "--framing", "length", "--port", String(port), "hello", "wörld", ""],
    ]);
    assert.equal(result.code, 0, result.stderr);
    assert.equal(result.stdout, "hello\nwörld\n", "one reply per line, the empty frame too");
    await stopEcho(echo);
  });

  test(
    `${name} connect turns stdin lines into frames and prints the echoes, an empty line for an empty frame`,
    { ...T, skip },
    async () => {
      const [command, prefix] = runWith();
      const [echo, port] = await startEcho([command, prefix]);
      const result = await run(
        command,
        [...prefix, "connect", "--framing", "length", "--port", String(port)],
        60_000,
        "hello\n\nworld\n",
      );
      assert.equal(result.code, 0, result.stderr);
      assert.equal(result.stdout, "hello\n\nworld", "three frames, the middle one empty");
      await stopEcho(echo);
    },
  );
}
