// Deno 2.9.6 node:tls (no framed code): a TLSSocket that is paused while the peer sends >= 64 KiB
// and half-closes gets every byte after resume() but never 'end'. Node 20 and Bun 1.4.5 emit it.
// Run: deno run -A tests/repros/deno_node_tls_end.ts 100000   (60000 works; 65536 and up hang)
//      node --import tsx tests/repros/deno_node_tls_end.ts 100000 / bun tests/repros/...
import * as tls from "node:tls";
import process from "node:process";
import { tlsFixtures } from "../_tls_fixtures.ts";
const { cert, key, ca } = tlsFixtures();
const bytes = Number(process.argv[2] ?? 100_000);
const server = tls.createServer({ allowHalfOpen: true, cert, key }, (socket) => {
  socket.pause(); // as a consumer that is not reading yet does
  setTimeout(() => {
    let got = 0;
    socket.on("data", (chunk) => (got += chunk.length));
    socket.on("end", () => {
      console.log(`${bytes} bytes: got ${got}, then 'end'`);
      process.exit(0);
    });
    setTimeout(() => {
      console.log(`${bytes} bytes: got ${got}, NO 'end' within 3 s`);
      process.exit(1);
    }, 3000);
    socket.resume();
  }, 300);
});
server.listen(0, "127.0.0.1", () => {
  const { port } = server.address() as { port: number };
  const options = { host: "127.0.0.1", port, ca, allowHalfOpen: true } as tls.ConnectionOptions;
  const client = tls.connect(options, () => {
    client.write(new Uint8Array(bytes).fill(1));
    client.end();
  });
});
