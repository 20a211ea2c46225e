// A peer that speaks the programs' wire format by hand over node:net (which Deno and Bun both
// provide): frames are built and parsed here byte by byte, so the servers are tested against the
// protocol, not against our own client or codec.

import { connect, type Socket } from "node:net";
import { Buffer } from "node:buffer";

/** One JSON-header frame: u32be header length, the header's JSON, then `body`. */
export function jsonFrame(header: Record<string, unknown>, body = new Uint8Array(0)): Uint8Array {
  const json = Buffer.from(JSON.stringify(header), "utf8");
  const out = Buffer.alloc(4 + json.length + body.length);
  out.writeUInt32BE(json.length, 0);
  json.copy(out, 4);
  out.set(body, 4 + json.length);
  return out;
}

/** A raw TCP connection with exact reads. Every wait is bounded. */
export class RawPeer {
  readonly socket: Socket;
  #chunks: Buffer[] = [];
  #buffered = 0;
  #ended = false;
  #wake: (() => void) | null = null;

  private constructor(socket: Socket) {
    this.socket = socket;
    socket.on("data", (chunk: Buffer) => {
      this.#chunks.push(chunk);
      this.#buffered += chunk.length;
      this.#wake?.();
    });
    const end = () => {
      this.#ended = true;
      this.#wake?.();
    };
    socket.on("end", end);
    socket.on("close", end);
    socket.on("error", end); // a reset is an end here; the caller checks what it received
  }

  /** Connects to 127.0.0.1:`port`. */
  static connect(port: number): Promise<RawPeer> {
    return new Promise((resolve, reject) => {
      const socket = connect({ host: "127.0.0.1", port });
      socket.once("connect", () => {
        socket.removeListener("error", reject);
        resolve(new RawPeer(socket));
      });
      socket.once("error", reject);
    });
  }

  /** Writes `bytes`; resolves when the runtime has taken them, rejects if the socket failed. */
  send(bytes: Uint8Array): Promise<void> {
    return new Promise((resolve, reject) => {
      this.socket.write(bytes, (error) => (error ? reject(error) : resolve()));
    });
  }

  /** Exactly `n` bytes, or null when the stream ends first. Fails after `ms`. */
  async read(n: number, ms = 30_000): Promise<Buffer | null> {
    const deadline = Date.now() + ms;
    while (this.#buffered < n) {
      if (this.#ended) return null;
      const left = deadline - Date.now();
      if (left <= 0) throw new Error(`no ${n} bytes within ${ms} ms (got ${this.#buffered})`);
      await new Promise<void>((resolve) => {
        const timer = setTimeout(resolve, left);
        this.#wake = () => {
          clearTimeout(timer);
          resolve();
        };
      });
      this.#wake = null;
    }
    const all = Buffer.concat(this.#chunks);
    this.#chunks = all.length > n ? [all.subarray(n)] : [];
    this.#buffered = all.length - n;
    return all.subarray(0, n);
  }

  /**
   * The next JSON-header frame (`sizeField` names the body length), or null when the stream ends
   * before a whole frame.
   */
  async readFrame(
    sizeField: string,
    ms = 30_000,
  ): Promise<{ header: Record<string, unknown>; body: Buffer } | null> {
    const prefix = await this.read(4, ms);
    if (prefix === null) return null;
    const json = await this.read(prefix.readUInt32BE(0), ms);
    if (json === null) return null;
    const header = JSON.parse(json.toString("utf8")) as Record<string, unknown>;
    const body = await this.read(Number(header[sizeField]), ms);
    if (body === null) return null;
    return { header, body };
  }

  /** Whether the peer has ended the stream (after the buffered bytes). */
  get ended(): boolean {
    return this.#ended;
  }

  /** Closes now. */
  close(): void {
    this.socket.destroy();
  }
}
