// `npm test`: runs every test under Deno (including the @example blocks of the docs), under Bun
// and under Node (through tsx), prints each runtime's tally, and ends with one line
// `N passed, N failed` summed over all three. Exits non-zero when anything failed or a runner's
// tally could not be read.

import { spawn } from "node:child_process";
import { readdirSync } from "node:fs";
import process from "node:process";

interface Tally {
  runtime: string;
  passed: number;
  failed: number;
  ok: boolean;
}

// Deno, Bun and tsx come from node_modules; Node is the one on the PATH that runs npm.
const bin = (name: string) => name === "node" ? "node" : `node_modules/.bin/${name}`;

function run(
  runtime: string,
  command: string,
  args: string[],
  parse: (out: string) => [number, number] | null,
): Promise<Tally> {
  return new Promise((resolve) => {
    console.log(`\n━━ ${runtime}: ${command} ${args.join(" ")}`);
    const child = spawn(bin(command), args, {
      env: { ...process.env, NO_COLOR: "1", FORCE_COLOR: "0" },
    });
    let output = "";
    const echo = (chunk: Buffer) => {
      output += chunk.toString();
      process.stdout.write(chunk);
    };
    child.stdout.on("data", echo);
    child.stderr.on("data", echo);
    child.on("close", (code) => {
      // deno test colours its tally even with NO_COLOR set; strip ANSI escapes before reading it.
      // deno-lint-ignore no-control-regex
      const counts = parse(output.replace(/\x1b\[[0-9;]*m/g, ""));
      if (counts === null) {
        console.log(`${runtime}: could not read the test tally (exit code ${code})`);
        resolve({ runtime, passed: 0, failed: 1, ok: false });
        return;
      }
      const [passed, failed] = counts;
      resolve({ runtime, passed, failed, ok: code === 0 && failed === 0 });
    });
  });
}

// deno: "ok | 120 passed | 0 failed (9s)" or "FAILED | 118 passed | 2 failed (9s)"
const parseDeno = (out: string): [number, number] | null => {
  const m = /(?:ok|FAILED) \| (\d+) passed(?: \(\d+ steps?\))? \| (\d+) failed/.exec(out);
  return m ? [Number(m[1]), Number(m[2])] : null;
};

// bun: " 98 pass" / " 0 fail" on lines of their own
const parseBun = (out: string): [number, number] | null => {
  const pass = /^\s*(\d+) pass$/m.exec(out);
  const fail = /^\s*(\d+) fail$/m.exec(out);
  return pass && fail ? [Number(pass[1]), Number(fail[1])] : null;
};

// node --test: "# pass 98" / "# fail 0" in its closing summary
const parseNode = (out: string): [number, number] | null => {
  const pass = /^# pass (\d+)$/m.exec(out);
  const fail = /^# fail (\d+)$/m.exec(out);
  return pass && fail ? [Number(pass[1]), Number(fail[1])] : null;
};

// Node finds only .js test files by itself: name the TypeScript ones.
const testFiles = readdirSync("tests").filter((f) => f.endsWith("_test.ts")).sort()
  .map((f) => `tests/${f}`);

const tallies = [
  await run("deno", "deno", ["test", "-A", "--doc", "mod.ts", "lib/", "tests/"], parseDeno),
  await run("bun", "bun", ["test"], parseBun),
  // --test-force-exit: a failed test that leaves a server listening must not hang the run.
  await run(
    "node",
    "node",
    ["--import", "tsx", "--test", "--test-force-exit", ...testFiles],
    parseNode,
  ),
];

console.log("");
for (const t of tallies) {
  console.log(`${t.runtime}: ${t.passed} passed, ${t.failed} failed${t.ok ? "" : " (FAILED)"}`);
}
const passed = tallies.reduce((n, t) => n + t.passed, 0);
const failed = tallies.reduce((n, t) => n + t.failed, 0);
console.log(`${passed} passed, ${failed} failed`);
process.exit(tallies.every((t) => t.ok) ? 0 : 1);
