// The client side of the idle-connection check: one Bun process that opens many connections, has
// each echo one small length-prefixed frame (so the server has accepted it and served it), then
// leaves them all idle. Started by bench/_idle.ts as
//   bun bench/idle_client.ts --port P --warmup W --window K --deadline-ms T
// Lines on stdout, one JSON object each: {"type":"warm"} once W connections have echoed and closed
// (the server's code paths are warm); then, for each `open K` on stdin, {"type":"held",...} once K
// more are open and echoed (or the deadline passed); then, after `close` on stdin,
// {"type":"closed",...} with how many were still open, and the process exits (the kernel closes
// the sockets).
//
// Bun's native sockets are used whatever the server runs: the client must not be the bottleneck
// of the accept rate, and one client for every server keeps the rates comparable.

import process from "node:process";
import { createInterface } from "node:readline";
import { parseArgs } from "node:util";
import { bun as bunRuntime, type BunSocket as BunSocketOf } from "../lib/adapters/_bun_types.ts";

interface Probe {
  received: number;
  echoed: boolean;
  closed: boolean;
}

type BunSocket = BunSocketOf<Probe>;

const { values } = parseArgs({
  options: {
    port: { type: "string" },
    warmup: { type: "string", default: "50" },
    window: { type: "string", default: "128" },
    "deadline-ms": { type: "string", default: "60000" },
  },
});
const port = Number(values.port);
const bun = bunRuntime();
if (bun === undefined) throw new Error("bench/idle_client.ts runs in Bun");

// One length-prefixed frame (u32be length, 8 bytes of body): a framed echo and a bare echo both
// send back exactly these 12 bytes.
const FRAME = new Uint8Array([0, 0, 0, 8, 1, 2, 3, 4, 5, 6, 7, 8]);

const emit = (event: unknown) => console.log(JSON.stringify(event));

interface Opened {
  sockets: BunSocket[];
  echoed: number;
  failed: number;
  seconds: number;
}

/**
 * Opens `count` connections, at most `window` of them connecting or waiting for their echo at a
 * time (a burst of thousands of SYNs overflows the listen backlog, and the kernel then retries
 * after a second: that would measure the backlog, not the server). Stops at `deadline`.
 */
function open(count: number, window: number, deadline: number): Promise<Opened> {
  const sockets: BunSocket[] = [];
  const started = performance.now();
  let launched = 0;
  let pending = 0;
  let echoed = 0;
  let failed = 0;
  return new Promise((resolve) => {
    let finished = false;
    const finish = () => {
      if (finished) return;
      finished = true;
      clearTimeout(timer);
      resolve({ sockets, echoed, failed, seconds: (performance.now() - started) / 1000 });
    };
    const timer = setTimeout(finish, Math.max(0, deadline - Date.now()));
    const settle = (ok: boolean) => {
      pending--;
      if (ok) echoed++;
      else failed++;
      launch();
    };
    const launch = () => {
      while (pending < window && launched < count && Date.now() < deadline) {
        launched++;
        pending++;
        const probe: Probe = { received: 0, echoed: false, closed: false };
        bun.connect({
          hostname: "127.0.0.1",
          port,
          data: probe,
          socket: {
            open(socket) {
              sockets.push(socket);
              socket.write(FRAME);
            },
            data(socket, chunk) {
              const p = socket.data;
              p.received += chunk.length;
              if (!p.echoed && p.received >= FRAME.length) {
                p.echoed = true;
                settle(true);
              }
            },
            close(socket) {
              const p = socket.data;
              if (p.closed) return;
              p.closed = true;
              if (!p.echoed) settle(false);
            },
            error() {},
          },
        }).catch(() => {
          if (!probe.closed) {
            probe.closed = true;
            settle(false);
          }
        });
      }
      if (pending === 0 && (launched === count || Date.now() >= deadline)) finish();
    };
    launch();
  });
}

const deadlineMs = Number(values["deadline-ms"]);
const window = Number(values.window);
const lines = createInterface({ input: process.stdin })[Symbol.asyncIterator]();

const warm = await open(Number(values.warmup), window, Date.now() + deadlineMs);
for (const socket of warm.sockets) socket.end();
emit({ type: "warm", echoed: warm.echoed, failed: warm.failed });

// `open K` opens K more (answered with "held"), `close` reports how many are still open and exits.
// At most 100 commands: the harness sends three.
const sockets: BunSocket[] = [];
const stillOpen = () => sockets.filter((s) => s.data.echoed && !s.data.closed).length;
for (let i = 0; i < 100; i++) {
  const line = await lines.next();
  if (line.done || line.value === "close") break;
  const count = Number(/^open (\d+)$/.exec(line.value)?.[1] ?? 0);
  const batch = await open(count, window, Date.now() + deadlineMs);
  sockets.push(...batch.sockets);
  emit({
    type: "held",
    echoed: batch.echoed,
    failed: batch.failed,
    seconds: batch.seconds,
    accept_per_s: batch.echoed / batch.seconds,
    open: stillOpen(),
  });
}
emit({ type: "closed", still_open: stillOpen() });
process.exit(0);
