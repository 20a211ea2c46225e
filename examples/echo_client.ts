// Talks to examples/echo_server.ts. The same file runs in Deno and in Bun.
import process from "node:process";
import { connect } from "@nianbao/framed";

// `await using`: at the end of the scope the connection flushes what was written, sends FIN and
// closes, as `await conn.close()` does.
await using conn = await connect({ port: Number(process.env.PORT ?? 9000) });
conn.write(new TextEncoder().encode("hello"));
conn.write(new TextEncoder().encode("world")); // same tick: one TCP segment, still two frames
await conn.flush();
console.log(new TextDecoder().decode((await conn.readFrame())!)); // hello
console.log(new TextDecoder().decode((await conn.readFrame())!)); // world
