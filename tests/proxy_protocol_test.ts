// The PROXY protocol on the server side: the header is read before framing starts, the original
// client becomes remoteAddress, and a connection without a valid header is refused and reported
// without ever reaching the handler, while good clients keep being served. The parser is checked
// against the examples of HAProxy's doc/proxy-protocol.txt; the servers against a raw client that
// writes the header bytes itself over real sockets on 127.0.0.1.

import { test } from "node:test";
import assert from "node:assert/strict";
import {
  type FramedConn,
  listen,
  listenStreams,
  PROXY_V2_MAX_LENGTH,
  ProxyProtocolError,
  type ProxyProtocolVersion,
  serve,
  type SocketApi,
} from "../mod.ts";
import { formatIpv6, parseProxyHeader } from "../lib/_proxy_header.ts";
import { concat, sleep, SOCKET_APIS, utf8, waitFor } from "./_helpers.ts";
import { RawPeer } from "./_raw_peer.ts";
import { eventually, runCli, startCli, stopCli } from "./_process.ts";

// ── Header bytes, built by hand ──────────────────────────────────────────────────────────────

const SIGNATURE = [0x0d, 0x0a, 0x0d, 0x0a, 0x00, 0x0d, 0x0a, 0x51, 0x55, 0x49, 0x54, 0x0a];

/** A v2 header: version/command byte, family/protocol byte, then the block (addresses, TLVs). */
function v2(versionCommand: number, familyProtocol: number, block: number[]): Uint8Array {
  return new Uint8Array([
    ...SIGNATURE,
    versionCommand,
    familyProtocol,
    block.length >> 8,
    block.length & 0xff,
    ...block,
  ]);
}

const be16 = (n: number) => [n >> 8, n & 0xff];
const tlv = (type: number, value: number[]) => [type, ...be16(value.length), ...value];

/** v2 PROXY TCP over IPv4: 192.0.2.7:51000 -> 198.51.100.1:443, with ALPN and NOOP TLVs. */
const V2_IPV4 = v2(0x21, 0x11, [
  ...[192, 0, 2, 7],
  ...[198, 51, 100, 1],
  ...be16(51000),
  ...be16(443),
  ...tlv(0x01, [...utf8("h2")]),
  ...tlv(0x04, [0, 0, 0]),
]);

/** v2 PROXY TCP over IPv6: [2001:db8::7]:51000 -> [2001:db8::1]:443, with an AWS-style TLV. */
const V2_IPV6 = v2(0x21, 0x21, [
  ...[0x20, 0x01, 0x0d, 0xb8, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0x07],
  ...[0x20, 0x01, 0x0d, 0xb8, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0x01],
  ...be16(51000),
  ...be16(443),
  ...tlv(0xea, [0x01, ...utf8("vpce-0123456789abcdef")]),
]);

/** v2 LOCAL (a health check), with an address block the receiver must ignore. */
const V2_LOCAL = v2(0x20, 0x11, [127, 0, 0, 1, 127, 0, 0, 1, 0, 1, 0, 2]);

/** A length-prefixed frame (u32be, the default codec). */
function frame(text: string): Uint8Array {
  const body = utf8(text);
  return new Uint8Array([...be16(0), ...be16(body.length), ...body]);
}

// ── The parser ───────────────────────────────────────────────────────────────────────────────

test("parseProxyHeader() reads the specification's v1 examples, the longest included", () => {
  const tcp4 = utf8("PROXY TCP4 255.255.255.255 255.255.255.255 65535 65535\r\n");
  const step4 = parseProxyHeader(tcp4, "v1");
  assert.equal(step4.status, "done");
  if (step4.status !== "done") return;
  assert.equal(step4.length, tcp4.length);
  assert.equal(`${step4.header.source}`, "255.255.255.255:65535");
  assert.equal(`${step4.header.destination}`, "255.255.255.255:65535");

  const full = "ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff";
  const tcp6 = utf8(`PROXY TCP6 ${full} ${full} 65535 65535\r\n`);
  assert.equal(tcp6.length, 104); // the specification's worst case for TCP6
  const step6 = parseProxyHeader(tcp6, "any");
  assert.equal(step6.status, "done");
  if (step6.status !== "done") return;
  assert.equal(`${step6.header.source}`, `[${full}]:65535`);

  const unknownShort = utf8("PROXY UNKNOWN\r\n");
  assert.deepEqual(parseProxyHeader(unknownShort, "v1"), {
    status: "done",
    header: { version: 1, command: "PROXY", source: null, destination: null },
    length: 15,
  });
  const unknownLong = utf8(`PROXY UNKNOWN ${full} ${full} 65535 65535\r\n`);
  assert.equal(unknownLong.length, 107); // the longest line there is
  assert.equal(parseProxyHeader(unknownLong, "v1").status, "done");
});

test("parseProxyHeader() reads a v2 header with a TLV (rama-haproxy's example)", () => {
  // INET over DGRAM, 127.0.0.1:80 -> 192.168.1.1:443, then a NOOP TLV of one byte.
  const bytes = v2(0x21, 0x12, [127, 0, 0, 1, 192, 168, 1, 1, 0, 80, 1, 187, 4, 0, 1, 42]);
  const step = parseProxyHeader(concat([bytes, utf8("rest")]), "v2");
  assert.equal(step.status, "done");
  if (step.status !== "done") return;
  assert.equal(step.length, 16 + 16);
  assert.deepEqual(step.header.source, { transport: "udp", hostname: "127.0.0.1", port: 80 });
  assert.equal(`${step.header.destination}`, "192.168.1.1:443");
  assert.equal(step.header.version, 2);
});

test("parseProxyHeader() accepts v2 unix and unspecified addresses, and LOCAL, with no source", () => {
  const none = (version: 1 | 2, command: "PROXY" | "LOCAL") => ({
    version,
    command,
    source: null,
    destination: null,
  });
  const cases: [Uint8Array, ReturnType<typeof none>][] = [
    [v2(0x21, 0x00, []), none(2, "PROXY")], // AF_UNSPEC: the receiver ignores the block
    [v2(0x21, 0x31, new Array<number>(216).fill(0x61)), none(2, "PROXY")], // AF_UNIX paths
    [v2(0x21, 0x31, [...new Array<number>(216).fill(0), ...tlv(0x05, [1, 2])]), none(2, "PROXY")],
    [v2(0x20, 0x00, []), none(2, "LOCAL")],
    [V2_LOCAL, none(2, "LOCAL")],
  ];
  for (const [bytes, header] of cases) {
    assert.deepEqual(parseProxyHeader(bytes, "v2"), {
      status: "done",
      header,
      length: bytes.length,
    });
  }
});

test("parseProxyHeader() asks for more at every cut of a header, and is done only when whole", () => {
  for (const header of [utf8("PROXY TCP4 1.2.3.4 5.6.7.8 1 2\r\n"), V2_IPV4, V2_IPV6, V2_LOCAL]) {
    for (let cut = 0; cut < header.length; cut++) {
      assert.deepEqual(
        parseProxyHeader(header.subarray(0, cut), "any"),
        { status: "more" },
        `cut ${cut}`,
      );
    }
    const step = parseProxyHeader(concat([header, frame("x")]), "any");
    assert.equal(step.status === "done" && step.length, header.length);
  }
});

test("parseProxyHeader() refuses what the specification says to refuse", () => {
  const refusals: [Uint8Array, ProxyProtocolVersion, RegExp][] = [
    [frame("hello"), "any", /no PROXY header \(it began with 00 00 00 05/],
    [V2_IPV4, "v1", /no v1 PROXY header/],
    [utf8("PROXY TCP4 1.2.3.4 5.6.7.8 1 2\r\n"), "v2", /no v2 PROXY header/],
    [new Uint8Array([...SIGNATURE.slice(0, 11), 0x0b, 0x21, 0x11, 0, 0]), "v2", /no v2 PROXY/],
    [v2(0x11, 0x11, []), "v2", /version 1 is not 2/],
    [v2(0x22, 0x11, []), "v2", /command 2/],
    [v2(0x21, 0x41, []), "v2", /family 4/],
    [v2(0x21, 0x13, []), "v2", /protocol 3/],
    [v2(0x21, 0x11, [1, 2, 3]), "v2", /3 bytes is shorter than 12/],
    [v2(0x21, 0x11, [1, 2, 3, 4, 5, 6, 7, 8, 0, 1, 0, 2, 0x04, 0, 9, 0]), "v2", /TLV .* 9 bytes/],
    [v2(0x21, 0x11, [1, 2, 3, 4, 5, 6, 7, 8, 0, 1, 0, 2, 0x04]), "v2", /cut short/],
    [
      new Uint8Array([...SIGNATURE, 0x21, 0x11, ...be16(PROXY_V2_MAX_LENGTH + 1)]),
      "v2",
      /announces 4097 bytes .* limit of 4096/,
    ],
    [utf8(`PROXY UNKNOWN ${"x".repeat(93)}`), "v1", /longer than 107 bytes/],
    [utf8("PROXY TCP5 1.2.3.4 5.6.7.8 1 2\r\n"), "v1", /"TCP5"/],
    [utf8("PROXY TCP4 1.2.3.4 5.6.7.8 1 65536\r\n"), "v1", /port 65536/],
    [utf8("PROXY TCP4 1.2.3.256 5.6.7.8 1 2\r\n"), "v1", /source 1.2.3.256 is not TCP4/],
    [utf8("PROXY TCP6 1.2.3.4 ::1 1 2\r\n"), "v1", /source 1.2.3.4 is not TCP6/],
    [utf8("PROXY TCP4  1.2.3.4 5.6.7.8 1 2\r\n"), "v1", /7 fields/],
    [utf8("PROXY TCP4 1.2.3.4 5.6.7.8 1 2\n"), "v1", /byte 0x0a/],
    [utf8("PROXY TCP4 1.2.3.4 5.6.7.8 1 2\rX"), "v1", /CR without LF/],
  ];
  for (const [bytes, accept, reason] of refusals) {
    const step = parseProxyHeader(bytes, accept);
    assert.equal(
      step.status,
      "invalid",
      `accepted ${JSON.stringify(new TextDecoder().decode(bytes))}`,
    );
    if (step.status === "invalid") assert.match(step.reason, reason);
  }
  // 107 bytes is the longest line, CRLF included: 105 bytes and a CRLF are accepted; a CR after
  // 106 bytes is refused, whether the line comes in one chunk or the CRLF comes later (it was
  // accepted whole, and waited out the timeout when split).
  const longest = utf8(`PROXY UNKNOWN ${"x".repeat(91)}\r\n`);
  assert.equal(longest.length, 107);
  assert.equal(parseProxyHeader(longest, "v1").status, "done");
  const over = utf8(`PROXY UNKNOWN ${"x".repeat(92)}\r\n`);
  for (const cut of [over.length, over.length - 1, over.length - 2]) {
    const step = parseProxyHeader(over.subarray(0, cut), "v1");
    assert.equal(step.status, cut === over.length - 2 ? "more" : "invalid", `cut at ${cut}`);
  }
});

test("formatIpv6() writes addresses in RFC 5952's form", () => {
  assert.equal(formatIpv6([0, 0, 0, 0, 0, 0, 0, 1]), "::1");
  assert.equal(formatIpv6([0, 0, 0, 0, 0, 0, 0, 0]), "::");
  assert.equal(formatIpv6([0x2001, 0xdb8, 0, 0, 1, 0, 0, 1]), "2001:db8::1:0:0:1");
  assert.equal(formatIpv6([0x2001, 0xdb8, 0, 1, 1, 1, 1, 1]), "2001:db8:0:1:1:1:1:1");
  assert.equal(formatIpv6([0, 0, 0, 0, 0, 0xffff, 0x7f00, 1]), "::ffff:127.0.0.1");
  const v1 = parseProxyHeader(
    utf8("PROXY TCP6 2001:DB8:0:0:0:0:0:7 ::ffff:10.0.0.1 1 2\r\n"),
    "v1",
  );
  assert.equal(v1.status === "done" && `${v1.header.source}`, "[2001:db8::7]:1");
  assert.equal(v1.status === "done" && v1.header.destination?.hostname, "::ffff:10.0.0.1");
});

// ── Servers ──────────────────────────────────────────────────────────────────────────────────

interface Seen {
  remote: string;
  proxy: FramedConn<Uint8Array>["proxy"];
  proxyPeerPort: number | undefined;
}

/** An echo server with `proxyProtocol`, recording who it served and what it refused. */
async function proxiedEcho(
  api: SocketApi,
  proxyProtocol: ProxyProtocolVersion,
  proxyTimeout?: number,
) {
  const seen: Seen[] = [];
  const errors: { error: unknown; conn: unknown }[] = [];
  const server = await serve({
    api,
    port: 0,
    proxyProtocol,
    proxyTimeout,
    handler: async (conn) => {
      seen.push({
        remote: `${conn.remoteAddress}`,
        proxy: conn.proxy,
        proxyPeerPort: conn.proxy?.proxyAddress.port,
      });
      for await (const frame of conn) conn.write(frame);
    },
    onError: (error, conn) => errors.push({ error, conn }),
  });
  return { server, port: server.address.port, seen, errors };
}

/** Sends `header` and two frames in one write; expects both echoed. Returns the client's port. */
async function echoThrough(port: number, header: Uint8Array): Promise<number> {
  const peer = await RawPeer.connect(port);
  try {
    await peer.send(concat([header, frame("first"), frame("second")]));
    const expected = concat([frame("first"), frame("second")]);
    const echoed = await peer.read(expected.length, 10_000);
    assert.deepEqual(echoed && new Uint8Array(echoed), expected);
    return peer.socket.localPort!;
  } finally {
    peer.close();
  }
}

/** Expects exactly one refusal, reported with `null`, naming the peer on `clientPort`. */
async function expectRefused(
  errors: { error: unknown; conn: unknown }[],
  code: string,
  reason: RegExp,
  clientPort: number,
) {
  await waitFor(() => errors.length > 0, `a ${code} report`);
  assert.equal(errors.length, 1, `reports: ${errors.map((e) => e.error)}`);
  const [{ error, conn }] = errors as [{ error: unknown; conn: unknown }];
  assert.ok(error instanceof ProxyProtocolError, `not a ProxyProtocolError: ${error}`);
  assert.equal(error.code, code);
  assert.equal(conn, null);
  assert.equal(`${error.address}`, `127.0.0.1:${clientPort}`);
  assert.match(
    error.message,
    new RegExp(`^PROXY protocol header from 127\\.0\\.0\\.1:${clientPort} refused: `),
  );
  assert.match(error.reason, reason);
}

for (const api of SOCKET_APIS) {
  test(
    `serve() with proxyProtocol "v1" takes the client from TCP4, TCP6 and UNKNOWN lines (${api})`,
    {
      timeout: 20_000,
    },
    async () => {
      const { server, port, seen, errors } = await proxiedEcho(api, "v1");
      try {
        await echoThrough(port, utf8("PROXY TCP4 192.0.2.7 198.51.100.1 51000 443\r\n"));
        await echoThrough(port, utf8("PROXY TCP6 2001:db8::7 2001:db8::1 51000 443\r\n"));
        const unknownPort = await echoThrough(port, utf8("PROXY UNKNOWN\r\n"));
        assert.deepEqual(seen.map((s) => s.remote), [
          "192.0.2.7:51000",
          "[2001:db8::7]:51000",
          `127.0.0.1:${unknownPort}`,
        ]);
        assert.equal(`${seen[0]!.proxy?.destination}`, "198.51.100.1:443");
        assert.equal(`${seen[1]!.proxy?.destination}`, "[2001:db8::1]:443");
        assert.deepEqual(seen[2]!.proxy?.source, null);
        assert.equal(seen[2]!.proxyPeerPort, unknownPort);
        assert.ok(seen.every((s) => s.proxy?.version === 1 && s.proxy.command === "PROXY"));
        assert.deepEqual(errors, []);
      } finally {
        await server.shutdown();
      }
    },
  );

  test(
    `serve() with proxyProtocol "v2" reads IPv4 and IPv6 headers with TLVs, and LOCAL (${api})`,
    {
      timeout: 20_000,
    },
    async () => {
      const { server, port, seen, errors } = await proxiedEcho(api, "v2");
      try {
        const ipv4Port = await echoThrough(port, V2_IPV4);
        await echoThrough(port, V2_IPV6);
        const localPort = await echoThrough(port, V2_LOCAL);
        assert.deepEqual(seen.map((s) => s.remote), [
          "192.0.2.7:51000",
          "[2001:db8::7]:51000",
          `127.0.0.1:${localPort}`,
        ]);
        assert.deepEqual(seen[0]!.proxy, {
          version: 2,
          command: "PROXY",
          source: { transport: "tcp", hostname: "192.0.2.7", port: 51000 },
          destination: { transport: "tcp", hostname: "198.51.100.1", port: 443 },
          proxyAddress: { transport: "tcp", hostname: "127.0.0.1", port: ipv4Port },
        });
        assert.equal(`${seen[1]!.proxy?.destination}`, "[2001:db8::1]:443");
        assert.equal(seen[2]!.proxy?.command, "LOCAL");
        assert.equal(seen[2]!.proxy?.source, null);
        assert.deepEqual(errors, []);
      } finally {
        await server.shutdown();
      }
    },
  );

  test(
    `a header that arrives byte by byte or in pieces is read, and the bytes after it are framed (${api})`,
    {
      timeout: 20_000,
    },
    async () => {
      const { server, port, seen, errors } = await proxiedEcho(api, "any");
      try {
        for (const header of [V2_IPV6, utf8("PROXY TCP4 192.0.2.9 198.51.100.1 4000 443\r\n")]) {
          const peer = await RawPeer.connect(port);
          peer.socket.setNoDelay(true);
          try {
            // The header and the first half of a frame one byte at a time, the rest in one write.
            const wire = concat([header, frame("byte by byte"), frame("then")]);
            const split = header.length + 9;
            for (let i = 0; i < split; i++) {
              await peer.send(wire.subarray(i, i + 1));
              if (i % 4 === 0) await sleep(1);
            }
            await peer.send(wire.subarray(split));
            const expected = wire.subarray(header.length);
            const echoed = await peer.read(expected.length, 10_000);
            assert.deepEqual(echoed && new Uint8Array(echoed), expected);
          } finally {
            peer.close();
          }
        }
        // The header's start in one write, its end glued to two frames in the next (the pause lets
        // them arrive as two reads, though nothing here depends on it).
        const peer = await RawPeer.connect(port);
        peer.socket.setNoDelay(true);
        try {
          await peer.send(V2_IPV4.subarray(0, 5));
          await sleep(20);
          // Longer than any header: the parser copies only what a header can need.
          const frames = concat([frame("glued ".repeat(1000)), frame("to the header")]);
          await peer.send(concat([V2_IPV4.subarray(5), frames]));
          const echoed = await peer.read(frames.length, 10_000);
          assert.deepEqual(echoed && new Uint8Array(echoed), frames);
        } finally {
          peer.close();
        }
        assert.deepEqual(seen.map((s) => s.remote), [
          "[2001:db8::7]:51000",
          "192.0.2.9:4000",
          "192.0.2.7:51000",
        ]);
        assert.deepEqual(errors, []);
      } finally {
        await server.shutdown();
      }
    },
  );

  const refusals: {
    name: string;
    accept: ProxyProtocolVersion;
    code: "PROXY_PROTOCOL_INVALID" | "PROXY_PROTOCOL_TIMEOUT";
    reason: RegExp;
    /** What the refused client does after connecting. */
    act(peer: RawPeer): Promise<void>;
  }[] = [
    {
      name: "a client without a header (plain frames)",
      accept: "any",
      code: "PROXY_PROTOCOL_INVALID",
      reason: /no PROXY header \(it began with 00 00 00 05/,
      act: (peer) => peer.send(frame("hello")),
    },
    {
      name: "a bad v2 signature",
      accept: "v2",
      code: "PROXY_PROTOCOL_INVALID",
      reason: /no v2 PROXY header/,
      act: (peer) => peer.send(concat([V2_IPV4.slice(0, 7), utf8("X"), V2_IPV4.slice(8)])),
    },
    {
      name: "a v1 line over 107 bytes without CRLF",
      accept: "v1",
      code: "PROXY_PROTOCOL_INVALID",
      reason: /longer than 107 bytes/,
      act: (peer) => peer.send(utf8(`PROXY TCP4 ${"1".repeat(200)}`)),
    },
    {
      name: "a v2 length over the limit",
      accept: "v2",
      code: "PROXY_PROTOCOL_INVALID",
      reason: /announces 65535 bytes/,
      act: (peer) => peer.send(new Uint8Array([...SIGNATURE, 0x21, 0x11, 0xff, 0xff, 1, 2, 3])),
    },
    {
      name: "a header cut short by the client's close",
      accept: "v2",
      code: "PROXY_PROTOCOL_INVALID",
      reason: /closed after 20 bytes of an incomplete header/,
      act: async (peer) => {
        await peer.send(V2_IPV4.subarray(0, 20));
        peer.socket.end();
      },
    },
    {
      name: "a client silent past proxyTimeout",
      accept: "v1",
      code: "PROXY_PROTOCOL_TIMEOUT",
      reason: /no complete header within 200 ms/,
      act: () => Promise.resolve(),
    },
  ];

  for (const refusal of refusals) {
    test(
      `serve() refuses ${refusal.name}, reports it to onError and serves the next client (${api})`,
      {
        timeout: 20_000,
      },
      async () => {
        const { server, port, seen, errors } = await proxiedEcho(api, refusal.accept, 200);
        const good = refusal.accept === "v1"
          ? utf8("PROXY TCP4 192.0.2.7 198.51.100.1 51000 443\r\n")
          : V2_IPV4;
        const bad = await RawPeer.connect(port);
        // Read now: node:net forgets it once the server has closed the socket.
        const badPort = bad.socket.localPort!;
        try {
          await refusal.act(bad);
          // A good client is served while the bad one waits to be refused.
          await echoThrough(port, good);
          await expectRefused(errors, refusal.code, refusal.reason, badPort);
          // The refused connection was closed by the server: it reads an end, and nothing else.
          assert.equal(await bad.read(1, 10_000), null);
          await echoThrough(port, good);
          assert.deepEqual(seen.map((s) => s.remote), ["192.0.2.7:51000", "192.0.2.7:51000"]);
        } finally {
          bad.close();
          await server.shutdown();
        }
      },
    );
  }

  test(`many silent peers waiting for their header do not hold up a good client (${api})`, {
    timeout: 20_000,
  }, async () => {
    const { server, port, seen, errors } = await proxiedEcho(api, "v2", 60_000);
    const silent: RawPeer[] = [];
    try {
      for (let i = 0; i < 20; i++) silent.push(await RawPeer.connect(port));
      await echoThrough(port, V2_IPV4);
      assert.equal(seen.length, 1);
      // Shutting down drops the connections still waiting for their header, unreported.
      await server.shutdown();
      for (const peer of silent) assert.equal(await peer.read(1, 10_000), null);
      assert.deepEqual(errors, []);
    } finally {
      for (const peer of silent) peer.close();
      await server.shutdown();
    }
  });

  test(`for await over listen() skips a refused connection and yields the next (${api})`, {
    timeout: 20_000,
  }, async () => {
    await using listener = await listen({ api, port: 0, proxyProtocol: "v1" });
    const peers: RawPeer[] = [];
    const refused = async () => {
      const peer = await RawPeer.connect(listener.address.port);
      peers.push(peer);
      await peer.send(frame("no header"));
      await waitFor(() => peer.ended, "the refused client's end");
    };
    try {
      // accept() throws the refusal, as for a failed TLS handshake...
      await refused();
      await assert.rejects(listener.accept(), ProxyProtocolError);
      // ...and for await skips it: a refusal queued ahead of a good client is passed over.
      await refused();
      const good = await RawPeer.connect(listener.address.port);
      peers.push(good);
      await good.send(
        concat([utf8("PROXY TCP4 192.0.2.7 198.51.100.1 51000 443\r\n"), frame("hi")]),
      );
      for await (const conn of listener) {
        assert.equal(`${conn.remoteAddress}`, "192.0.2.7:51000");
        assert.equal(new TextDecoder().decode((await conn.readFrame())!), "hi");
        conn.abort();
        break;
      }
    } finally {
      for (const peer of peers) peer.close();
    }
  });

  test(
    `listenStreams() with proxyProtocol hands out streams that start after the header (${api})`,
    {
      timeout: 20_000,
    },
    async () => {
      const listener = await listenStreams({ api, port: 0, proxyProtocol: "v2" });
      const peer = await RawPeer.connect(listener.address.port);
      try {
        await peer.send(concat([V2_IPV6, utf8("payload")]));
        const stream = (await listener.accept())!;
        assert.equal(`${stream.remoteAddress}`, "[2001:db8::7]:51000");
        assert.equal(stream.proxy?.proxyAddress.port, peer.socket.localPort);
        const received: Uint8Array[] = [];
        let ended = false;
        stream.start({
          data: (chunk) => {
            received.push(chunk.slice());
            return false;
          },
          end: () => (ended = true),
          error: () => (ended = true),
        });
        peer.socket.end();
        await waitFor(() => ended, "the end of the stream");
        assert.equal(new TextDecoder().decode(concat(received)), "payload");
        stream.close();
      } finally {
        peer.close();
        listener.close();
      }
    },
  );
}

test("proxyProtocol is checked before anything listens", async () => {
  await assert.rejects(
    // @ts-expect-error: not a version
    listen({ port: 0, proxyProtocol: "v3" }),
    (error) => error instanceof TypeError && /"v1", "v2" or "any"/.test(error.message),
  );
  await assert.rejects(
    listen({ path: "/tmp/framed-proxy-never.sock", proxyProtocol: "v1" }),
    (error) => error instanceof TypeError && /TCP listeners only/.test(error.message),
  );
  await assert.rejects(
    listenStreams({ port: 0, proxyProtocol: "v2", tls: { cert: "x", key: "y" } }),
    (error) => error instanceof TypeError && /tls/.test(error.message),
  );
  await assert.rejects(
    serve({ port: 0, proxyProtocol: "v2", proxyTimeout: -1, handler: () => {} }),
    RangeError,
  );
});

// ── The command line ─────────────────────────────────────────────────────────────────────────

test(
  "echo --proxy-protocol v2 --verbose logs the original client, echoes, and refuses a client without a header",
  { timeout: 60_000 },
  async () => {
    const [echo, port] = await startCli([
      "echo",
      "--framing",
      "length",
      "--proxy-protocol",
      "v2",
      "--verbose",
    ]);
    try {
      await echoThrough(port, V2_IPV4);
      await echoThrough(port, V2_LOCAL);
      const bad = await RawPeer.connect(port);
      const badPort = bad.socket.localPort!;
      await bad.send(frame("no header"));
      assert.equal(await bad.read(1, 10_000), null, "refused and closed");
      bad.close();
      await eventually("the refusal on stderr", () => /refused/.test(echo.stderr()), 10_000);
      const lines = echo.stderr().trim().split("\n");
      assert.equal(lines[0], "connection from 192.0.2.7:51000");
      assert.match(lines[1]!, /^connection from 127\.0\.0\.1:\d+$/);
      assert.equal(
        lines[2],
        `framed echo: PROXY protocol header from 127.0.0.1:${badPort} refused: ` +
          "no v2 PROXY header (it began with 00 00 00 09 6e 6f 20 68)",
      );
      assert.equal(lines.length, 3, echo.stderr());
    } finally {
      await stopCli(echo);
    }
  },
);

test("echo --proxy-protocol takes v1, v2 or any, on TCP without TLS only: otherwise exit 2", {
  timeout: 60_000,
}, async () => {
  const usage: [string[], RegExp][] = [
    [["--proxy-protocol", "v3"], /--proxy-protocol must be v1, v2 or any/],
    [
      ["--proxy-protocol", "v1", "--unix", "/tmp/framed-never.sock"],
      /cannot be combined with --unix/,
    ],
  ];
  for (const [args, message] of usage) {
    const result = await runCli(["echo", "--framing", "length", ...args]);
    assert.equal(result.code, 2, result.stderr);
    assert.match(result.stderr, message);
  }
});
