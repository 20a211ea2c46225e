// A framed echo server. Run it with `deno run -A examples/echo_server.ts` or
// `bun examples/echo_server.ts`, then `… examples/echo_client.ts` in another terminal.
import process from "node:process";
import { serve } from "@nianbao/framed";

const server = await serve({
  port: Number(process.env.PORT ?? 9000), // hostname defaults to 127.0.0.1
  handler: async (conn) => {
    for await (const frame of conn) conn.write(frame); // echo each message, unchanged
  },
});
console.log(`listening on ${server.address.hostname}:${server.address.port}`);
