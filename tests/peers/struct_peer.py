"""A test peer in another language: Python's struct + socket, no packages.

  struct_peer.py client PORT FRAMING FORMAT   pipelines frames at an echo server and checks
                                              every echo byte for byte; prints "ok N"
  struct_peer.py server FRAMING FORMAT        serves one connection: answers each frame with
                                              its body upper-cased; prints "port N" first
  struct_peer.py garbage PORT                 sends random bytes, expects the server to close

FRAMING is length | json-header | delimiter. FORMAT is a framed length format name.
"""
import json
import random
import socket
import struct
import sys

STRUCT = {
    "u8": "B", "u16be": ">H", "u16le": "<H", "u32be": ">I", "u32le": "<I",
    "i32be": ">i", "i32le": "<i", "u64be": ">Q", "u64le": "<Q",
}


def varint(n):
    out = bytearray()
    while True:
        byte, n = n & 0x7F, n >> 7
        if n:
            out.append(byte | 0x80)
        else:
            out.append(byte)
            return bytes(out)


# struct has no 3-byte integer: u24be/u24le are int.to_bytes(3, ...).
U24 = {"u24be": "big", "u24le": "little"}


def pack_length(fmt, n):
    if fmt in U24:
        return n.to_bytes(3, U24[fmt])
    return varint(n) if fmt == "varint" else struct.pack(STRUCT[fmt], n)


def recv_exact(sock, n):
    data = b""
    while len(data) < n:
        chunk = sock.recv(n - len(data))
        if not chunk:
            raise EOFError(f"stream ended after {len(data)} of {n} bytes")
        data += chunk
    return data


def read_length(sock, fmt):
    if fmt == "varint":
        shift = value = 0
        while True:
            byte = recv_exact(sock, 1)[0]
            value |= (byte & 0x7F) << shift
            shift += 7
            if byte < 0x80:
                return value
    if fmt in U24:
        return int.from_bytes(recv_exact(sock, 3), U24[fmt])
    size = struct.calcsize(STRUCT[fmt])
    return struct.unpack(STRUCT[fmt], recv_exact(sock, size))[0]


def encode(framing, fmt, body):
    if framing == "length":
        return pack_length(fmt, len(body)) + body
    if framing == "json-header":
        # Exactly the seed program: struct.pack('i', len(head)) + head + body, for i32le.
        head = json.dumps({"data_size": len(body), "file_name": "peer.bin", "md5": "-"}).encode()
        return pack_length(fmt, len(head)) + head + body
    return body + b"\n"


def read_frame(sock, framing, fmt):
    """Returns (the frame's exact wire bytes, its body)."""
    if framing == "length":
        n = read_length(sock, fmt)
        body = recv_exact(sock, n)
        return pack_length(fmt, n) + body, body
    if framing == "json-header":
        n = read_length(sock, fmt)
        head = recv_exact(sock, n)
        body = recv_exact(sock, json.loads(head)["data_size"])
        return pack_length(fmt, n) + head + body, body
    line = b""
    while not line.endswith(b"\n"):
        line += recv_exact(sock, 1)
    return line, line[:-1]


def bodies(framing, fmt):
    rng = random.Random(7)
    limit = {"u8": 255, "u16be": 65535, "u16le": 65535}.get(fmt, 70000)
    sizes = [0, 1, 5, 255, 256, 1000, limit] + [rng.randrange(0, 3000) for _ in range(50)]
    out = []
    for size in sizes:
        size = min(size, limit)
        alphabet = b"abcdefghij" if framing == "delimiter" else bytes(range(256))
        out.append(bytes(rng.choice(alphabet) for _ in range(size)))
    return out


def client(port, framing, fmt):
    sock = socket.create_connection(("127.0.0.1", port))
    frames = [encode(framing, fmt, b) for b in bodies(framing, fmt)]
    sock.sendall(b"".join(frames))  # pipelined: everything before any reply
    for i, sent in enumerate(frames):
        echoed, _ = read_frame(sock, framing, fmt)
        if echoed != sent:
            sys.exit(f"frame {i}: echo differs ({len(echoed)} vs {len(sent)} bytes)")
    sock.close()
    print(f"ok {len(frames)}")


def server(framing, fmt):
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(1)
    print(f"port {listener.getsockname()[1]}", flush=True)
    sock, _ = listener.accept()
    listener.settimeout(None)
    count = 0
    while True:
        try:
            _, body = read_frame(sock, framing, fmt)
        except EOFError:
            break
        sock.sendall(encode(framing, fmt, body.upper()))
        count += 1
    sock.close()
    print(f"served {count}", flush=True)


def garbage(port):
    sock = socket.create_connection(("127.0.0.1", port))
    sock.sendall(bytes(random.Random(1).randrange(256) for _ in range(4096)))
    sock.settimeout(10)
    try:
        while sock.recv(65536):
            pass
    except ConnectionResetError:
        pass
    print("closed by server")


if __name__ == "__main__":
    mode = sys.argv[1]
    if mode == "client":
        client(int(sys.argv[2]), sys.argv[3], sys.argv[4])
    elif mode == "server":
        server(sys.argv[2], sys.argv[3])
    else:
        garbage(int(sys.argv[2]))
