"""An independent peer for the TLS and unix socket tests: Python's ssl, socket and struct, no
packages. Frames are u32be length-prefixed (framed's default codec), built and parsed by hand.

  socket_peer.py tls-client PORT CAFILE SERVERNAME COUNT [ALPN]
      pipelines COUNT frames over TLS (verifying the server against CAFILE, for SERVERNAME),
      checks every echo byte for byte; prints "alpn NAME" (or "alpn none") then "ok COUNT"
  socket_peer.py tls-server CERTFILE KEYFILE
      prints "port N", serves one TLS connection: answers each frame with its body reversed
      until the client ends the stream; prints "served N"
  socket_peer.py unix-client PATH COUNT
      the same as tls-client, over an AF_UNIX stream socket; prints "ok COUNT"
  socket_peer.py unix-stale PATH
      binds and listens on PATH, then exits without unlinking: a dead daemon's socket file
  socket_peer.py unix-live PATH
      binds and listens on PATH, prints "listening", and stays until it is killed, or for 120 s
      at most (it never accepts: the kernel's backlog answers connects)
"""
import os
import random
import socket
import ssl
import struct
import sys
import time


def recv_exact(sock, n):
    data = bytearray()
    while len(data) < n:
        chunk = sock.recv(min(n - len(data), 1 << 20))
        if not chunk:
            raise EOFError(f"stream ended after {len(data)} of {n} bytes")
        data += chunk
    return bytes(data)


def frame(body):
    return struct.pack(">I", len(body)) + body


def read_frame(sock):
    (n,) = struct.unpack(">I", recv_exact(sock, 4))
    return recv_exact(sock, n)


def bodies(count):
    rng = random.Random(11)
    sizes = [0, 1, 4, 255, 16384, 70000]
    sizes += [rng.randrange(0, 3000) for _ in range(max(0, count - len(sizes)))]
    return [rng.randbytes(size) for size in sizes[:count]]


def pipeline(sock, count):
    sent = bodies(count)
    sock.sendall(b"".join(frame(body) for body in sent))  # everything before any echo
    for i, body in enumerate(sent):
        echoed = read_frame(sock)
        if echoed != body:
            sys.exit(f"frame {i}: echo differs ({len(echoed)} vs {len(body)} bytes)")


def tls_client(port, cafile, servername, count, alpn):
    context = ssl.create_default_context(cafile=cafile)  # verifies the chain and the name
    if alpn:
        context.set_alpn_protocols([alpn])
    raw = socket.create_connection(("127.0.0.1", port), timeout=30)
    with context.wrap_socket(raw, server_hostname=servername) as sock:
        print(f"alpn {sock.selected_alpn_protocol() or 'none'}", flush=True)
        pipeline(sock, count)
    print(f"ok {count}", flush=True)


def tls_server(certfile, keyfile):
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(certfile, keyfile)
    listener = socket.create_server(("127.0.0.1", 0))
    print(f"port {listener.getsockname()[1]}", flush=True)
    listener.settimeout(30)
    raw, _ = listener.accept()
    raw.settimeout(30)
    count = 0
    with context.wrap_socket(raw, server_side=True) as sock:
        while True:
            try:
                body = read_frame(sock)
            except EOFError:
                break
            sock.sendall(frame(body[::-1]))
            count += 1
    print(f"served {count}", flush=True)


def unix_socket():
    return socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)


def unix_client(path, count):
    sock = unix_socket()
    sock.settimeout(30)
    sock.connect(path)
    pipeline(sock, count)
    sock.close()
    print(f"ok {count}", flush=True)


def unix_listen(path):
    listener = unix_socket()
    listener.bind(path)
    listener.listen(8)
    return listener


if __name__ == "__main__":
    mode, args = sys.argv[1], sys.argv[2:]
    if mode == "tls-client":
        tls_client(int(args[0]), args[1], args[2], int(args[3]), args[4] if len(args) > 4 else None)
    elif mode == "tls-server":
        tls_server(args[0], args[1])
    elif mode == "unix-client":
        unix_client(args[0], int(args[1]))
    elif mode == "unix-stale":
        unix_listen(args[0])
        print("exiting without unlinking", flush=True)
        # os._exit skips every cleanup, as a crash would; Python never unlinks a socket file anyway.
        os._exit(0)
    elif mode == "unix-live":
        kept = unix_listen(args[0])
        print("listening", flush=True)
        time.sleep(120)
    else:
        sys.exit(f"unknown mode {mode}")
