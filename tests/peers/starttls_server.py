"""A STARTTLS server for tests/starttls_test.ts: Python's socket, ssl and struct, no packages.
Frames are u32be length-prefixed (framed's default codec).

  starttls_server.py CERTFILE KEYFILE MODE
      prints "port N", then serves connections one at a time for at most 60 s:
      reads one plaintext frame; if it is b"STARTTLS", answers b"GO" and, by MODE:
        tls     wraps the socket in TLS (server side) and echoes frames until the client ends
        inject  sends b"GO" and a second plaintext frame in the same segment (the STARTTLS
                injection attack), then waits for the client to hang up
        refuse  answers b"NO" instead, then echoes plaintext frames until the client ends
"""
import socket
import ssl
import struct
import sys
import time


def recv_exact(sock, n):
    data = bytearray()
    while len(data) < n:
        chunk = sock.recv(n - len(data))
        if not chunk:
            return None
        data += chunk
    return bytes(data)


def read_frame(sock):
    head = recv_exact(sock, 4)
    if head is None:
        return None
    return recv_exact(sock, struct.unpack(">I", head)[0])


def frame(body):
    return struct.pack(">I", len(body)) + body


def echo(sock):
    while True:
        body = read_frame(sock)
        if body is None:
            return
        sock.sendall(frame(body))


def main():
    cert, key, mode = sys.argv[1], sys.argv[2], sys.argv[3]
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(cert, key)
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen()
    listener.settimeout(1)
    print("port", listener.getsockname()[1], flush=True)
    deadline = time.time() + 60
    while time.time() < deadline:
        try:
            conn, _ = listener.accept()
        except socket.timeout:
            continue
        conn.settimeout(30)
        try:
            if read_frame(conn) != b"STARTTLS":
                continue
            if mode == "tls":
                conn.sendall(frame(b"GO"))
                secure = context.wrap_socket(conn, server_side=True)
                echo(secure)
                secure.close()
            elif mode == "inject":
                conn.sendall(frame(b"GO") + frame(b"injected"))
                while conn.recv(65536):
                    pass
            else:
                conn.sendall(frame(b"NO"))
                echo(conn)
        except (OSError, ssl.SSLError):
            pass
        finally:
            conn.close()


main()
