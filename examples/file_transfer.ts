// `framed file-server` / `put` / `get`: file transfer with the seed's custom header, done right.
//
// Wire protocol (any language can speak it): JSON-header frames with a u32be header length and
// the size field "file_size", exactly as the seed reads header['file_size'].
//   upload    {"op":"put","file_name":"a.bin","file_size":N,"sha256":"<hex>"} + N bytes
//   download  {"op":"get","file_name":"a.bin","file_size":0}
//   reply     {"ok":true|false,"error"?:"…","file_size":N, …}: the body length is always file_size;
//             a get's reply adds "file_name" and "sha256" and carries the N-byte file, a put's
//             reply adds "file_name", "sha256" and "stored_bytes" and carries no body
//
// Bodies stream: neither side ever holds a file in memory, and the sha256 is computed while the
// bytes go by. The server enforces every rule itself, whatever client connects.

import { createHash, randomBytes } from "node:crypto";
import { open, rename, stat, unlink } from "node:fs/promises";
import { basename, join } from "node:path";
import {
  type ByteStream,
  connectStream,
  FramedError,
  type JsonHeader,
  jsonHeader,
  type JsonHeaderEvent,
  listenStreams,
  sendAll,
  type SocketApi,
} from "../mod.ts";

const codec = jsonHeader({
  sizeField: "file_size",
  maxBodyLength: Number.MAX_SAFE_INTEGER,
  maxHeaderLength: 16 * 1024,
});
const CHUNK = 1024 * 1024;
const DISCARD_MS = 2000;

/** Why a name is refused, or null when it is a plain file name inside the served folder. */
export function badFileName(name: unknown): string | null {
  if (typeof name !== "string" || name.length === 0) return "file_name must be a non-empty string";
  if (name.length > 255) return "file_name is longer than 255 characters";
  if (/[/\\\0]/.test(name)) return "file_name must not contain /, \\ or NUL (no paths)";
  if (name === "." || name === ".." || name.startsWith(".")) {
    return "file_name must not start with a dot";
  }
  return null;
}

/**
 * Reads a file in chunks into one reused buffer; `each` must finish with a chunk before the next
 * read. Allocating nothing per chunk keeps memory flat (a garbage-collected runtime would
 * otherwise let freed chunks pile up to tens of MiB before collecting them).
 */
async function eachChunk(
  path: string,
  each: (chunk: Uint8Array) => Promise<void> | void,
): Promise<number> {
  const file = await open(path, "r");
  const buffer = new Uint8Array(CHUNK);
  let total = 0;
  try {
    for (;;) {
      const { bytesRead } = await file.read(buffer, 0, CHUNK, null);
      if (bytesRead === 0) return total;
      total += bytesRead;
      await each(buffer.subarray(0, bytesRead));
    }
  } finally {
    await file.close();
  }
}

/** sha256 of a file, read in chunks. */
export async function sha256File(path: string): Promise<string> {
  const hash = createHash("sha256");
  await eachChunk(path, (chunk) => void hash.update(chunk));
  return hash.digest("hex");
}

/**
 * Feeds a stream through the streaming decoder and hands every event to `handle` in order,
 * pausing the socket while `handle` works (so a slow disk slows the peer, not our memory).
 */
function pumpEvents(
  stream: ByteStream,
  handle: (event: JsonHeaderEvent) => Promise<void>,
): Promise<void> {
  const decoder = codec.createStreamingDecoder();
  const queue: JsonHeaderEvent[] = [];
  // Each chunk is copied here, so the adapter may reuse its read buffer and nothing is allocated
  // per chunk; the socket stays paused until every event of the chunk has been handled.
  const staging = new Uint8Array(256 * 1024);
  let busy = false;
  let ended = false;
  return new Promise<void>((resolve, reject) => {
    const drain = async () => {
      if (busy) return;
      busy = true;
      try {
        while (queue.length > 0) await handle(queue.shift()!);
        if (ended) {
          decoder.finish();
          resolve();
        } else stream.resume();
      } catch (error) {
        reject(error);
      } finally {
        busy = false;
      }
    };
    stream.start({
      data(chunk) {
        try {
          let bytes: Uint8Array;
          if (busy || queue.length > 0 || chunk.length > staging.length) bytes = chunk.slice();
          else {
            staging.set(chunk);
            bytes = staging.subarray(0, chunk.length);
          }
          decoder.push(bytes, (event) => queue.push(event));
          stream.pause();
          void drain();
          return false;
        } catch (error) {
          reject(error);
          return false;
        }
      },
      end() {
        ended = true;
        void drain();
      },
      error: reject,
    });
  });
}

async function reply(stream: ByteStream, header: JsonHeader, size = 0): Promise<void> {
  await sendAll(stream, codec.encodeHeader(header, size));
}

export interface FileServerOptions {
  dir: string;
  hostname?: string;
  port?: number;
  /** The largest upload accepted, in bytes. Default 4 GiB. */
  maxSize?: number;
  api?: SocketApi;
  onError?: (error: unknown) => void;
}

/** Serves one connection: any number of put/get requests, one after another. */
async function serveFiles(stream: ByteStream, options: FileServerOptions): Promise<void> {
  const maxSize = options.maxSize ?? 4 * 1024 ** 3;
  let upload: {
    header: Record<string, unknown>;
    temp: string;
    final: string;
    file: Awaited<ReturnType<typeof open>>;
    hash: ReturnType<typeof createHash>;
  } | null = null;
  // After refusing an upload the server answers nothing more: it half-closes, so the client reads
  // the refusal and stops, and discards what is still in flight (closing at once, with unread
  // bytes, would make the kernel reset the connection and could destroy the refusal in transit).
  // A client that keeps sending is cut off after DISCARD_MS.
  let refusedBody = false;
  let cutOff: () => void = () => {};
  const cutOffTimer = new Promise<void>((resolve) => (cutOff = resolve));
  const refuse = async (error: string) => {
    await reply(stream, { ok: false, error, file_size: 0 });
  };
  const refuseAndDiscard = async (error: string) => {
    await refuse(error);
    refusedBody = true;
    await stream.closeWrite().catch(() => {});
    setTimeout(cutOff, DISCARD_MS);
  };
  try {
    await Promise.race([
      cutOffTimer,
      pumpEvents(stream, async (event) => {
        if (refusedBody) return; // discarding
        if (event.type === "header") {
          const header = event.header as Record<string, unknown>;
          const bad = badFileName(header.file_name);
          if (header.op === "put") {
            const problem = bad ??
              (event.bodyLength > maxSize
                ? `file_size ${event.bodyLength} is over the limit of ${maxSize} bytes`
                : typeof header.sha256 !== "string" || !/^[0-9a-f]{64}$/.test(header.sha256)
                ? "sha256 must be 64 lowercase hex digits"
                : null);
            if (problem !== null) {
              // Refused before a single byte is written; the body that follows is discarded.
              return await refuseAndDiscard(problem);
            }
            const final = join(options.dir, header.file_name as string);
            const temp = join(
              options.dir,
              `.${header.file_name}.${randomBytes(6).toString("hex")}.part`,
            );
            upload = {
              header,
              temp,
              final,
              file: await open(temp, "wx"),
              hash: createHash("sha256"),
            };
          } else if (header.op === "get") {
            if (bad !== null) return await refuse(bad);
            const path = join(options.dir, header.file_name as string);
            const info = await stat(path).catch(() => null);
            if (info === null || !info.isFile()) {
              return await refuse(`no such file: ${header.file_name}`);
            }
            const sha256 = await sha256File(path);
            await reply(stream, {
              ok: true,
              file_name: header.file_name,
              file_size: info.size,
              sha256,
            }, info.size);
            const sent = await eachChunk(path, (chunk) => sendAll(stream, chunk));
            if (sent !== info.size) throw new Error(`${path} changed while it was being sent`);
          } else {
            return await refuseAndDiscard(`unknown op ${JSON.stringify(header.op)}`);
          }
        } else if (event.type === "body" && upload !== null) {
          await upload.file.write(event.chunk);
          upload.hash.update(event.chunk);
        } else if (event.type === "end" && upload !== null) {
          const done = upload;
          upload = null;
          await done.file.close();
          const digest = done.hash.digest("hex");
          if (digest !== done.header.sha256) {
            await unlink(done.temp);
            return await refuse(
              `sha256 mismatch: the header says ${done.header.sha256}, the body hashes to ${digest}`,
            );
          }
          await rename(done.temp, done.final); // appears under its name only once complete
          // file_size is always the reply's body length (none here); stored_bytes says what was kept.
          await reply(stream, {
            ok: true,
            file_name: done.header.file_name,
            file_size: 0,
            stored_bytes: done.header.file_size,
            sha256: digest,
          });
        }
      }),
    ]);
  } catch (error) {
    if (!refusedBody) options.onError?.(error);
  } finally {
    const unfinished = upload as { temp: string; file: { close(): Promise<void> } } | null;
    if (unfinished !== null) {
      await unfinished.file.close().catch(() => {});
      await unlink(unfinished.temp).catch(() => {});
    }
    await stream.closeWrite().catch(() => {});
    stream.close();
  }
}

/** Starts the file server; resolves with its port and a way to stop it. */
export async function fileServer(
  options: FileServerOptions,
): Promise<{ port: number; hostname: string; close(): void }> {
  const listener = await listenStreams({
    hostname: options.hostname ?? "127.0.0.1",
    port: options.port ?? 0,
    api: options.api,
  });
  void (async () => {
    for (let stream = await listener.accept(); stream !== null; stream = await listener.accept()) {
      void serveFiles(stream, options);
    }
  })();
  return {
    port: listener.address.port,
    hostname: listener.address.hostname,
    close: () => listener.close(),
  };
}

/** Reads replies: the header of the next reply, and its body handed to `onBody`. */
function replyReader(stream: ByteStream, onBody: (chunk: Uint8Array) => Promise<void>) {
  let resolveHeader: ((h: Record<string, unknown>) => void) | null = null;
  let resolveEnd: (() => void) | null = null;
  const finished = pumpEvents(stream, async (event) => {
    if (event.type === "header") resolveHeader?.(event.header as Record<string, unknown>);
    else if (event.type === "body") await onBody(event.chunk);
    else resolveEnd?.();
  });
  finished.catch(() => {});
  return {
    header: () => new Promise<Record<string, unknown>>((r) => (resolveHeader = r)),
    end: () => new Promise<void>((r) => (resolveEnd = r)),
    finished,
  };
}

/** Uploads `path`; resolves with the server's reply header, rejects with its refusal. */
export async function putFile(
  options: { hostname?: string; port: number; api?: SocketApi },
  path: string,
  name = basename(path),
) {
  const info = await stat(path);
  const sha256 = await sha256File(path);
  const stream = await connectStream(options);
  const reader = replyReader(stream, () => Promise.resolve());
  const replied = reader.header();
  let refused: Record<string, unknown> | null = null;
  void replied.then((h) => (refused = h.ok === true ? null : h));
  let sendError: unknown = null;
  try {
    await sendAll(
      stream,
      codec.encodeHeader({ op: "put", file_name: name, file_size: info.size, sha256 }, info.size),
    );
    await eachChunk(path, async (chunk) => {
      if (refused !== null) throw new Error("refused"); // the server said no: stop sending
      await sendAll(stream, chunk);
    });
  } catch (error) {
    sendError = error; // perhaps because the server refused and stopped reading: ask the reply
  }
  const header = await Promise.race([replied, reader.finished.then(() => null, () => null)]);
  stream.close();
  if (header !== null && header.ok !== true) throw new Error(String(header.error));
  if (sendError !== null) throw sendError;
  if (header === null) throw new Error("the server closed the connection without a reply");
  return header;
}

/** Downloads `name` into `out`; verifies its sha256 before it appears under `out`. */
export async function getFile(
  options: { hostname?: string; port: number; api?: SocketApi },
  name: string,
  out: string,
) {
  const stream = await connectStream(options);
  const temp = `${out}.${randomBytes(6).toString("hex")}.part`;
  const file = await open(temp, "wx");
  const hash = createHash("sha256");
  const reader = replyReader(stream, async (chunk) => {
    await file.write(chunk);
    hash.update(chunk);
  });
  const headerPromise = reader.header();
  const endPromise = reader.end();
  try {
    await sendAll(stream, codec.encodeHeader({ op: "get", file_name: name }, 0));
    const header = await Promise.race([
      headerPromise,
      reader.finished.then((): Record<string, unknown> => ({ ok: false, error: "no reply" })),
    ]);
    if (header.ok !== true) throw new Error(String(header.error));
    await endPromise;
    await file.close();
    const digest = hash.digest("hex");
    if (digest !== header.sha256) {
      throw new Error(`sha256 mismatch: expected ${header.sha256}, got ${digest}`);
    }
    await rename(temp, out);
    return header;
  } catch (error) {
    await file.close().catch(() => {});
    await unlink(temp).catch(() => {});
    throw error instanceof FramedError ? new Error(error.message) : error;
  } finally {
    stream.close();
  }
}
