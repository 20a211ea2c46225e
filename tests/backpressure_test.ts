// A handler slower than the network must make the socket pause, not make memory grow: 256 MiB go
// to a server whose RSS may grow by less than 64 MiB. The server runs in its own process, so its
// RSS is its own.

import { test } from "node:test";
import assert from "node:assert/strict";
import { connect, detectRuntime, lengthPrefix } from "../mod.ts";
import { line, runtimeCommand, start } from "./_process.ts";
import { SOCKET_APIS } from "./_helpers.ts";

const MiB = 1024 * 1024;
const FRAMES = 256;

for (const api of SOCKET_APIS) {
  test(
    `${detectRuntime()} ${api}: pushing 256 MiB at a slow handler grows server RSS by less than 64 MiB`,
    { timeout: 120_000 },
    async () => {
      const [command, args] = runtimeCommand("tests/_slow_server.ts", ["--v8-flags=--expose-gc"]);
      const server = start(command, [...args, api, String(FRAMES)]);
      try {
        const port = Number(/listening on .*:(\d+)$/.exec(await line(server, 0))![1]);
        const conn = await connect({ api, port, codec: lengthPrefix({ maxFrameLength: 2 * MiB }) });
        const frame = new Uint8Array(MiB);
        let checksum = 0;
        for (let i = 0; i < FRAMES; i++) {
          frame[0] = i & 0xff;
          frame[MiB - 1] = (i * 7) & 0xff;
          checksum = (checksum + frame[0] + frame[MiB - 1]!) >>> 0;
          // flush() resolves only once the kernel took the bytes: the client is held back too.
          await conn.writeFrame(frame);
        }
        assert.deepEqual(await conn.readFrame(), new Uint8Array([1]));
        conn.close();
        const report = JSON.parse(await line(server, 1));
        assert.equal(report.frames, FRAMES);
        assert.equal(report.bytes, FRAMES * MiB);
        assert.equal(report.checksum, checksum);
        const growth = report.peakMiB - report.baselineMiB;
        console.log(
          `server RSS ${report.baselineMiB.toFixed(1)} → ${report.peakMiB.toFixed(1)} MiB (+${
            growth.toFixed(1)
          })`,
        );
        assert.ok(growth < 64, `server RSS grew by ${growth.toFixed(1)} MiB`);
      } finally {
        server.kill();
      }
    },
  );
}
