// udp-demo: datagrams keep their boundaries (empty ones too), oversize payloads are refused before
// sending, and a burst may lose datagrams, on both socket APIs of the runtime running the tests.

import { test } from "node:test";
import assert from "node:assert/strict";
import { detectRuntime, type SocketApi } from "../mod.ts";
import { udpDemo } from "../programs/udp_demo.ts";

const quiet = () => {};

for (const api of ["native", "node"] as SocketApi[]) {
  test(
    `udp (${detectRuntime()} ${api}): each datagram arrives whole, empty ones too, and oversize is refused`,
    { timeout: 120_000 },
    async () => {
      const result = await udpDemo(api, quiet);
      assert.deepEqual(result.receivedSizes, result.sentSizes);
      assert.ok(result.sentSizes.includes(0) && result.sentSizes.includes(65_507));
      assert.equal(result.oversizeRefused, true);
      assert.ok(result.burstReceived <= result.burstSent);
    },
  );
}
