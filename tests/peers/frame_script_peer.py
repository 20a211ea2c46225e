"""A scriptable framed peer in Python (socket + struct, no packages) for the connect/listen tests.

  frame_script_peer.py [--json-header] server STEP...       listens on 127.0.0.1:0, prints
                                                            "port N", serves one connection
  frame_script_peer.py [--json-header] client PORT STEP...  connects to 127.0.0.1:PORT, prints
                                                            "connected LOCALPORT"

Frames are a u32be length and the body; with --json-header, a u32be header length, the header
JSON and the body (the header's "data_size" says how long).

The STEPs run in order, then the socket is closed:
  send:HEX    send one frame whose body is HEX (json-header: the header {"data_size": n})
  raw:HEX     send these bytes as they are (a partial frame, a bad length, a hand-made header)
  many:N:HEX  send N frames whose body is HEX, in one go
  recv:N      read N frames
  recv-eof    read frames until the stream ends, then print "eof" ("reset" after a reset)
  echo        send back every frame read, until the stream ends; then print "eof"
  stdin       wait for one line on stdin (the test says when to go on)
  shut        half-close: shutdown(SHUT_WR), reading goes on
  close       close the socket now
  reset       close the socket with a reset (RST: SO_LINGER 0)

Every frame read is printed as "frame HEX" (json-header: "frame HEX HEADERTEXT"); a stream that
ends inside a frame prints "partial HEX" (the bytes of the cut frame) before "eof". A send that
fails because the other side is gone prints "send failed". Every wait is bounded: 30 s, then
"timeout" and exit code 3.
"""
import json
import socket
import struct
import sys

TIMEOUT = 30
json_header = False


def say(text):
    print(text, flush=True)


class Ended(Exception):
    def __init__(self, partial):
        super().__init__("stream ended")
        self.partial = partial


def recv_exact(sock, n, so_far=b""):
    data = b""
    while len(data) < n:
        chunk = sock.recv(n - len(data))
        if not chunk:
            raise Ended(so_far + data)
        data += chunk
    return data


def read_frame(sock):
    """One frame: (body, header text or None). Raises Ended at the end of the stream."""
    prefix = recv_exact(sock, 4)
    (n,) = struct.unpack(">I", prefix)
    if not json_header:
        return recv_exact(sock, n, prefix), None
    head = recv_exact(sock, n, prefix)
    size = json.loads(head)["data_size"]
    return recv_exact(sock, size, prefix + head), head.decode()


def encode(body):
    if not json_header:
        return struct.pack(">I", len(body)) + body
    head = json.dumps({"data_size": len(body)}).encode()
    return struct.pack(">I", len(head)) + head + body


def print_frame(body, head):
    say(f"frame {body.hex()}" if head is None else f"frame {body.hex()} {head}")


def send(sock, data):
    try:
        sock.sendall(data)
    except OSError:
        say("send failed")


def read_until_end(sock, reply):
    try:
        while True:
            body, head = read_frame(sock)
            print_frame(body, head)
            if reply:
                send(sock, encode(body))
    except Ended as ended:
        if ended.partial:
            say(f"partial {ended.partial.hex()}")
        say("eof")
    except ConnectionResetError:
        say("reset")


def run(sock, steps):
    for step in steps:
        name, _, arg = step.partition(":")
        if name == "send":
            send(sock, encode(bytes.fromhex(arg)))
        elif name == "raw":
            send(sock, bytes.fromhex(arg))
        elif name == "many":
            count, _, body = arg.partition(":")
            send(sock, encode(bytes.fromhex(body)) * int(count))
        elif name == "recv":
            for _ in range(int(arg)):
                try:
                    print_frame(*read_frame(sock))
                except Ended as ended:
                    say(f"partial {ended.partial.hex()}" if ended.partial else "eof")
                    return
        elif name == "recv-eof":
            read_until_end(sock, reply=False)
        elif name == "echo":
            read_until_end(sock, reply=True)
        elif name == "stdin":
            sys.stdin.readline()
        elif name == "shut":
            sock.shutdown(socket.SHUT_WR)
        elif name == "close":
            sock.close()
            return
        elif name == "reset":
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
            sock.close()
            return
        else:
            sys.exit(f"unknown step {step}")
    sock.close()


def main(argv):
    global json_header
    if argv[0] == "--json-header":
        json_header = True
        argv = argv[1:]
    try:
        if argv[0] == "server":
            listener = socket.socket()
            listener.bind(("127.0.0.1", 0))
            listener.listen(1)
            listener.settimeout(TIMEOUT)
            say(f"port {listener.getsockname()[1]}")
            sock, _ = listener.accept()
            listener.close()
            sock.settimeout(TIMEOUT)
            run(sock, argv[1:])
        else:
            sock = socket.create_connection(("127.0.0.1", int(argv[1])), timeout=TIMEOUT)
            say(f"connected {sock.getsockname()[1]}")
            run(sock, argv[2:])
    except socket.timeout:
        say("timeout")
        sys.exit(3)


if __name__ == "__main__":
    main(sys.argv[1:])
