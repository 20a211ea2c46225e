"""The row a Python user compares against: length-prefix framing done properly with asyncio +
struct, python3 from the machine, no packages. Same cells as the framed benchmark.

  asyncio_bench.py server                      prints "port N", serves until killed
  asyncio_bench.py client PORT PAYLOADS SECONDS [ROUNDS]
                                               prints one JSON result row per cell: the median
                                               of ROUNDS rounds (default 1) of SECONDS each,
                                               interleaved, with the rounds' min and max
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
    # A 64 B stream iteration (1 MiB of frames) takes about 50 ms here: the warm-up and the least
    # samples are kept small enough for the quick suite.
    for _ in range(5):  # warm up
        await iteration()
    samples = []
    deadline = time.perf_counter() + seconds
    while time.perf_counter() < deadline or len(samples) < 10:
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
    return stats, per_batch


def row(mode, payload, rounds):
    """One result row from the rounds of one cell (a list of (stats, frames per iteration))."""
    fps = [per_batch / (stats["p50"] / 1e9) for stats, per_batch in rounds]
    p50 = statistics.median(stats["p50"] for stats, _ in rounds)
    p99 = statistics.median(stats["p99"] for stats, _ in rounds)
    middle = statistics.median(fps)
    first = rounds[0][0]
    return {
        "runtime": "python", "api": "asyncio", "transport": "tcp", "strategy": "length-prefix",
        "mode": mode, "payload": payload, "receive": None, "send": None, "sleep_ms": None,
        "frames_per_s": middle, "min": min(fps), "max": max(fps), "mb_per_s": middle * payload / 1e6,
        "rtt_p50_us": p50 / 1e3 if mode == "ping-pong" else None,
        "rtt_p99_us": p99 / 1e3 if mode == "ping-pong" else None,
        "peak_rss_mb": None, "ratio_to_raw": None, "ratio_min": None, "ratio_max": None,
        "sticky_rate": None,
        "spread": (max(fps) - min(fps)) / middle if len(rounds) > 1
        else (first["p75"] - first["p25"]) / first["p50"],
        "rounds": len(rounds), "round_frames_per_s": fps, "round_ratios": None,
        "samples": sum(stats["samples"] for stats, _ in rounds),
    }


async def client(port, payloads, seconds, rounds):
    cells = [(mode, payload) for payload in payloads for mode in ("stream", "ping-pong")]
    measured = {cell: [] for cell in cells}
    for _ in range(rounds):  # rounds interleave the cells, as in the framed benchmark
        for mode, payload in cells:
            measured[(mode, payload)].append(await run_cell(port, mode, payload, seconds))
    for mode, payload in cells:
        print(json.dumps(row(mode, payload, measured[(mode, payload)])), flush=True)


if __name__ == "__main__":
    if sys.argv[1] == "server":
        asyncio.run(server())
    elif sys.argv[1] == "version":
        print(platform.python_version())
    else:
        asyncio.run(client(int(sys.argv[2]), [int(p) for p in sys.argv[3].split(",")], float(sys.argv[4]),
                           int(sys.argv[5]) if len(sys.argv) > 5 else 1))
