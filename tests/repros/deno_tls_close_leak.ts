// Deno 2.9.6: closing a Deno.TlsConn whose handshake has not finished leaves its TCP socket open:
// the peer (a Python client that sends nothing) sees no FIN, no reset, for as long as it waits
// (likely denoland/deno#14547: TLS streams finish the handshake before shutting down).
// Run: deno run -A tests/repros/deno_tls_close_leak.ts none|handshake|read
// Expected: "py recv b''" within a second of close(); seen: "py exc timed out 5.01".
import { tlsFixtures } from "../_tls_fixtures.ts";
const f = tlsFixtures();
const mode = Deno.args[0];
const l = Deno.listenTls({ hostname: "127.0.0.1", port: 0, cert: f.cert, key: f.key });
const port = (l.addr as Deno.NetAddr).port;
const py = new Deno.Command("python3", {
  args: [
    "-c",
    `
import socket,time
s=socket.create_connection(("127.0.0.1",${port})); s.settimeout(5); t=time.time()
try:
  print("  py recv", s.recv(10), round(time.time()-t,2))
except Exception as e: print("  py exc", e, round(time.time()-t,2))
`,
  ],
  stdout: "inherit",
}).spawn();
const conn = await l.accept();
let op: Promise<unknown> = Promise.resolve();
if (mode === "handshake") op = conn.handshake();
if (mode === "read") op = conn.read(new Uint8Array(10));
op.catch((e) => console.log("  op err", String(e)));
await new Promise((r) => setTimeout(r, 300));
conn.close();
await py.status;
l.close();
