// A 5-second tour: a framed echo server and client on 127.0.0.1, in whatever runtime runs this.
//   deno run -A examples/quick_demo.ts        bun examples/quick_demo.ts

import { connect, detectRuntime, lengthPrefix, serve } from "../mod.ts";

const codec = lengthPrefix(); // [u32 big-endian length][payload]
const text = new TextEncoder();

const server = await serve({
  codec,
  handler: async (conn) => {
    for await (const frame of conn) conn.write(frame); // echo every frame, unchanged
  },
});
console.log(`${detectRuntime()}: echo server listening on 127.0.0.1:${server.address.port}`);

const conn = await connect({ port: server.address.port, codec });
// Three writes in the same tick leave in one TCP segment: without framing, the server would read
// "helloworld!" as one message (the sticky-packet problem). With framing each one survives.
for (const word of ["hello", "world", ""]) conn.write(text.encode(word));
conn.write(new Uint8Array(8 * 1024 * 1024).fill(7)); // 8 MiB arrives in many reads, one frame
await conn.flush();

for (let i = 0; i < 4; i++) {
  const frame = (await conn.readFrame())!;
  const shown = frame.length > 32
    ? `<${frame.length} bytes>`
    : JSON.stringify(new TextDecoder().decode(frame));
  console.log(`frame ${i + 1}: ${shown}`);
}
await conn.close(); // graceful: sends what is left, then FIN; conn.abort() is the hard close
await server.shutdown();
console.log("4 frames sent, 4 frames received, boundaries intact");
