// One of several server processes on the same port (SO_REUSEPORT), for tests/reuse_port_test.ts.
//
//   reuse_port_server.ts PORT    listens on 127.0.0.1:PORT with reusePort (0: a free port) and
//                                prints "listening PORT"; answers every frame with
//                                "PID FRAME" (a frame starting "slow" after 300 ms of
//                                work); on SIGTERM shuts down gracefully (stops accepting,
//                                answers what it has read, closes), prints "drained N" (the
//                                connections it served) and "replies R" (the replies it wrote),
//                                and exits 0.
//
// Deno needs --unstable-net for reusePort. Bounded: exits by itself (code 3) after 120 s.

import process from "node:process";
import { serve } from "../../mod.ts";

const port = Number(process.argv[2] ?? 0);
const text = new TextDecoder();
const utf8 = new TextEncoder();
let served = 0;
let replies = 0;
const server = await serve({
  port,
  reusePort: true,
  handler: async (conn) => {
    served++;
    for await (const frame of conn) {
      const request = text.decode(frame);
      if (request.startsWith("slow")) await new Promise((resolve) => setTimeout(resolve, 300));
      await conn.writeFrame(utf8.encode(`${process.pid} ${request}`));
      replies++;
    }
  },
  onError: () => {}, // a client gone mid-request is the test's business, not ours
});
console.log(`listening ${server.address.port}`);
const deadline = setTimeout(() => process.exit(3), 120_000);
process.once("SIGTERM", async () => {
  await server.shutdown();
  clearTimeout(deadline);
  console.log(`drained ${served}`);
  console.log(`replies ${replies}`);
  process.exit(0);
});
