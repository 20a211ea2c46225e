"""The row a Python user compares against: length-prefix framing done properly with asyncio +
struct, python3 from the machine, no packages. Same cells as the framed benchmark.

  asyncio_bench.py server                      prints "port N", serves until killed
  asyncio_bench.py client PORT PAYLOADS SECONDS prints one JSON result row per cell
"""
import asyncio
import json
import platform
import statistics
import struct
import sys
import time

HEADER = struct.Struct(">I")


def frames_per_batch(payload):
    return max(1, (1024 * 1024) // (payload + 4))


async def handle(reader, writer):
    # First frame: the cell, as JSON. Then stream (ack every batch) or ping-pong (echo).
    (n,) = HEADER.unpack(await reader.readexactly(4))
    cell = json.loads(await reader.readexactly(n))
    per_batch = frames_per_batch(cell["payload"])
    frames = 0
    try:
        while True:
            (n,) = HEADER.unpack(await reader.readexactly(4))
            body = await reader.readexactly(n)
            if cell["mode"] == "ping-pong":
                writer.write(HEADER.pack(n) + body)
            else:
                frames += 1
                if frames % per_batch == 0:
                    writer.write(HEADER.pack(1) + b"\x01")
            await writer.drain()
    except (asyncio.IncompleteReadError, ConnectionError):
        writer.close()


async def server():
    srv = await asyncio.start_server(handle, "127.0.0.1", 0)
    print(f"port {srv.sockets[0].getsockname()[1]}", flush=True)
    async with srv:
        await srv.serve_forever()


async def timed(iteration, seconds):
    for _ in range(20):  # warm up
        await iteration()
    samples = []
    deadline = time.perf_counter() + seconds
    while time.perf_counter() < deadline or len(samples) < 20:
        start = time.perf_counter_ns()
        await iteration()
        samples.append(time.perf_counter_ns() - start)
    samples.sort()
    q = statistics.quantiles(samples, n=100)
    return {"p25": q[24], "p50": statistics.median(samples), "p75": q[74], "p99": q[98], "samples": len(samples)}


async def run_cell(port, mode, payload, seconds):
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    cell = json.dumps({"mode": mode, "payload": payload}).encode()
    writer.write(HEADER.pack(len(cell)) + cell)
    frame = HEADER.pack(payload) + bytes(i & 0xFF for i in range(payload))
    per_batch = frames_per_batch(payload) if mode == "stream" else 1
    batch = frame * per_batch

    async def stream():
        writer.write(batch)
        await writer.drain()
        await reader.readexactly(5)

    async def ping_pong():
        writer.write(frame)
        await writer.drain()
        (n,) = HEADER.unpack(await reader.readexactly(4))
        await reader.readexactly(n)

    stats = await timed(stream if mode == "stream" else ping_pong, seconds)
    writer.close()
    fps = per_batch / (stats["p50"] / 1e9)
    return {
        "runtime": "python", "api": "asyncio", "transport": "tcp", "strategy": "length-prefix",
        "mode": mode, "payload": payload, "receive": None, "sleep_ms": None,
        "frames_per_s": fps, "mb_per_s": fps * payload / 1e6,
        "rtt_p50_us": stats["p50"] / 1e3 if mode == "ping-pong" else None,
        "rtt_p99_us": stats["p99"] / 1e3 if mode == "ping-pong" else None,
        "peak_rss_mb": None, "ratio_to_raw": None, "sticky_rate": None,
        "spread": (stats["p75"] - stats["p25"]) / stats["p50"], "samples": stats["samples"],
    }


async def client(port, payloads, seconds):
    for payload in payloads:
        for mode in ("stream", "ping-pong"):
            print(json.dumps(await run_cell(port, mode, payload, seconds)), flush=True)


if __name__ == "__main__":
    if sys.argv[1] == "server":
        asyncio.run(server())
    elif sys.argv[1] == "version":
        print(platform.python_version())
    else:
        asyncio.run(client(int(sys.argv[2]), [int(p) for p in sys.argv[3].split(",")], float(sys.argv[4])))
