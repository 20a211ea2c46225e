// sticky-demo: the sticky-packet problem reproduced on a real loopback socket, then fixed with
// length-prefix framing, on both socket APIs of the runtime running the tests.

import { test } from "node:test";
import assert from "node:assert/strict";
import type { SocketApi } from "../mod.ts";
import { stickyDemo } from "../programs/sticky_demo.ts";

const quiet = () => {};

for (const api of ["native", "node"] as SocketApi[]) {
  test(
    `sticky-demo (${api}): unframed sends merge and a large reply splits; framed keeps every boundary`,
    { timeout: 120_000 },
    async () => {
      const result = await stickyDemo(api, quiet);
      assert.deepEqual(result.unframedReads, ["helloworld"], "two sends, one read");
      assert.ok(result.unframedReplyPieces.length > 1, "one reply, several reads");
      assert.equal(result.unframedReplyPieces.reduce((a, b) => a + b, 0), 1024 * 1024);
      assert.deepEqual(result.framedFrames, ["hello", "world"]);
      assert.equal(result.framedReplyLength, 1024 * 1024);
    },
  );
}
