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
// bytes go by. The server enforces every rule itself, whatever client connects:
// - a name is one plain file name (no path, no leading dot) of at most MAX_NAME_BYTES in UTF-8,
//   so that its temporary name `.NAME.<12 hex>.part` still fits the file system's 255 bytes;
// - symbolic links are never followed: a get opens with O_NOFOLLOW and checks what it opened, a put
//   refuses a name that is a link (and rename(2) replaces a link rather than writing through it);
// - every refusal or failure before a get's body starts is a reply {"ok": false, "error": "…"}:
//   bad names, directories, a full disk, a failed rename;
// - an upload is written to a temporary file that is removed on every failure, when the server
//   stops (SIGINT/SIGTERM in the CLI), and at startup if a crash left one behind. One server per
//   directory: the startup sweep removes every `.NAME.<12 hex>.part` in it.
//
// Over TCP, TLS (`tls`) or a unix socket (`path`), the same protocol.

import { createHash, type Hash, randomBytes } from "node:crypto";
import { constants, readSync, unlinkSync } from "node:fs";
import { type FileHandle, lstat, open, readdir, rename, stat, unlink } from "node:fs/promises";
import { basename, join } from "node:path";
import {
  type Address,
  type ByteListener,
  type ByteStream,
  connectStream,
  type ConnectStreamOptions,
  type EncodeSink,
  FramedError,
  type FrameEncoder,
  FrameReader,
  FrameWriter,
  type JsonHeader,
  jsonHeader,
  type JsonHeaderEvent,
  listenStreams,
  sendAll,
  type SocketApi,
  type TcpListenOptions,
  TlsError,
  type UnixListenOptions,
} from "../mod.ts";

const codec = jsonHeader({
  sizeField: "file_size",
  maxBodyLength: Number.MAX_SAFE_INTEGER,
  maxHeaderLength: 16 * 1024,
});
/** The largest upload accepted unless `maxSize` says otherwise, in bytes (4 GiB). */
export const DEFAULT_MAX_UPLOAD: number = 4 * 1024 ** 3;
const CHUNK = 1024 * 1024;
/** Bytes read synchronously per chunk of a body being sent (see sendFileBody). */
const SEND_CHUNK = 256 * 1024;
const DISCARD_MS = 2000;
/** How long `close()` waits for connections to wind down before removing what is left. */
const CLOSE_WAIT_MS = 3000;
/** Pause after a process-wide accept failure (out of descriptors or buffers). */
const RESOURCE_BACKOFF_MS = 50;

// ── Names ────────────────────────────────────────────────────────────────────────────────────

/** Bytes in a path component on the common file systems (ext4, XFS, btrfs, tmpfs, APFS). */
const NAME_MAX = 255;
const TEMP_ID_BYTES = 6;
/** What the temporary name `.NAME.<12 hex>.part` adds to NAME, in bytes. */
const TEMP_OVERHEAD = ".".length + ".".length + 2 * TEMP_ID_BYTES + ".part".length;
/** The longest file name accepted, in UTF-8 bytes: its temporary name must fit NAME_MAX too. */
export const MAX_NAME_BYTES: number = NAME_MAX - TEMP_OVERHEAD;
/** A temporary upload file, as named by {@linkcode tempName}. */
const TEMP_NAME = /^\..+\.[0-9a-f]{12}\.part$/s;

function tempName(name: string): string {
  return `.${name}.${randomBytes(TEMP_ID_BYTES).toString("hex")}.part`;
}

const utf8 = new TextEncoder();

/** Why a name is refused, or null when it is a plain file name inside the served folder. */
export function badFileName(name: unknown): string | null {
  if (typeof name !== "string" || name.length === 0) return "file_name must be a non-empty string";
  if (/[/\\\0]/.test(name)) return "file_name must not contain /, \\ or NUL (no paths)";
  if (name.startsWith(".")) return "file_name must not start with a dot";
  if (!name.isWellFormed()) return "file_name must be valid Unicode (it has a lone surrogate)";
  const bytes = utf8.encode(name).length;
  if (bytes > MAX_NAME_BYTES) {
    return `file_name is ${bytes} bytes in UTF-8; the limit is ${MAX_NAME_BYTES}`;
  }
  return null;
}

/** A system error as a short reason: "no space left on device", not a stack of runtime text. */
function reason(error: unknown): string {
  const code = (error as { code?: unknown } | null)?.code;
  const known: Record<string, string> = {
    ENOSPC: "no space left on device",
    EDQUOT: "disk quota exceeded",
    EISDIR: "it is a directory",
    ENOENT: "no such file or directory",
    ENOTDIR: "a part of the path is not a directory",
    EACCES: "permission denied",
    EPERM: "operation not permitted",
    EROFS: "read-only file system",
    ENAMETOOLONG: "name too long",
    EIO: "input/output error",
  };
  if (typeof code === "string" && code in known) return known[code]!;
  return error instanceof Error ? error.message : String(error);
}

// ── Files ────────────────────────────────────────────────────────────────────────────────────

/**
 * Reads up to `limit` bytes of an open file from its start, in chunks, into one reused buffer;
 * `each` must finish with a chunk before the next read. Allocating nothing per chunk keeps memory
 * flat (a garbage-collected runtime would otherwise let freed chunks pile up to tens of MiB before
 * collecting them).
 */
async function eachChunk(
  file: FileHandle,
  each: (chunk: Uint8Array) => Promise<void> | void,
  limit = Number.MAX_SAFE_INTEGER,
): Promise<number> {
  const buffer = new Uint8Array(CHUNK);
  let total = 0;
  while (total < limit) {
    const want = Math.min(CHUNK, limit - total);
    const { bytesRead } = await file.read(buffer, 0, want, total);
    if (bytesRead === 0) break;
    total += bytesRead;
    await each(buffer.subarray(0, bytesRead));
  }
  return total;
}

/** A body's bytes as they are, no header: `encodeWith` lets the file be read into the send buffer. */
const bodyBytes: FrameEncoder<Uint8Array> = {
  encodeTo(bytes: Uint8Array, sink: EncodeSink): void {
    sink.reserve(bytes.length).set(bytes, sink.length);
    sink.length += bytes.length;
  },
  encodeWith(length: number, fill: (body: Uint8Array) => void, sink: EncodeSink): void {
    const bytes = sink.reserve(length);
    const at = sink.length;
    fill(bytes.subarray(at, at + length));
    sink.length = at + length;
  },
};

/**
 * Sends exactly `size` bytes of an open file after its header: each chunk is read (readSync) straight
 * into the connection's outgoing buffer, so the body is never copied in user space, and the next
 * chunk is read while the previous one is being written. A file that shrank meanwhile throws:
 * the body cannot be completed, so the caller cuts the connection.
 *
 * Reading is synchronous, 256 KiB at a time: from the page cache that takes tens of
 * microseconds; from a cold disk a few milliseconds, during which this process serves nobody
 * else (the price of no copy; `eachChunk` is the asynchronous way).
 */
async function sendFileBody(
  stream: ByteStream,
  file: FileHandle,
  size: number,
  stop: () => boolean = () => false,
): Promise<void> {
  const writer = new FrameWriter(stream, bodyBytes);
  for (let sent = 0; sent < size;) {
    if (stop()) throw new Error("stopped");
    const want = Math.min(SEND_CHUNK, size - sent);
    const from = sent;
    const room = writer.writeWith(want, (body) => {
      for (let at = 0; at < want;) {
        const n = readSync(file.fd, body, at, want - at, from + at);
        if (n === 0) throw new Error("the file shrank while it was being sent");
        at += n;
      }
    });
    sent += want;
    if (!room) await writer.flush();
  }
  await writer.flush();
}

/** Writes every byte of `chunk` (a file write, like a socket write, may be partial). */
async function writeAll(file: FileHandle, chunk: Uint8Array): Promise<void> {
  for (let at = 0; at < chunk.length;) {
    const { bytesWritten } = await file.write(chunk, at, chunk.length - at);
    if (bytesWritten <= 0) {
      throw Object.assign(new Error("the write stored nothing"), { code: "EIO" });
    }
    at += bytesWritten;
  }
}

async function sha256Of(file: FileHandle, limit?: number): Promise<string> {
  const hash = createHash("sha256");
  await eachChunk(file, (chunk) => void hash.update(chunk), limit);
  return hash.digest("hex");
}

/** sha256 of a file, read in chunks. */
export async function sha256File(path: string): Promise<string> {
  const file = await open(path, "r");
  try {
    return await sha256Of(file);
  } finally {
    await file.close();
  }
}

// ── Streaming frames ─────────────────────────────────────────────────────────────────────────

/**
 * Reads a stream as JSON-header events and hands each to `handle` in order, waiting for it. The
 * reader is the same machinery every connection uses; it lends the events (`borrow`): nothing
 * more is read from the socket while `handle` works (so a slow disk slows the peer, not our
 * memory), and body chunks are views of one reused read buffer, never copies.
 */
async function pumpEvents(
  stream: ByteStream,
  handle: (event: JsonHeaderEvent) => Promise<void>,
): Promise<void> {
  const events = new FrameReader(stream, codec.streamingCodec(), { borrow: true });
  for await (const event of events) await handle(event);
}

async function reply(stream: ByteStream, header: JsonHeader, size = 0): Promise<void> {
  await sendAll(stream, codec.encodeHeader(header, size));
}

// ── Server ───────────────────────────────────────────────────────────────────────────────────

/** What the file server does, wherever it listens. */
export interface FileServerSettings {
  /** The served folder. It must exist: a missing one is refused at startup. */
  dir: string;
  /** The largest upload accepted, in bytes. Default {@linkcode DEFAULT_MAX_UPLOAD} (4 GiB). */
  maxSize?: number;
  api?: SocketApi;
  /** Serve connections from this listener instead of listening where the options say. */
  listener?: ByteListener;
  /** Receives each connection's failure, a failed TLS handshake included (`TlsError`). */
  onError?: (error: unknown) => void;
}

/**
 * Options of {@linkcode fileServer}: the settings, and where to listen: TCP (`hostname`, default
 * 127.0.0.1, and `port`, default 0), TLS on top (`tls`), or a unix socket (`path`).
 */
export type FileServerOptions =
  & FileServerSettings
  & (
    | Pick<TcpListenOptions, "hostname" | "port" | "tls" | "path">
    | Pick<UnixListenOptions, "path" | "hostname" | "port" | "tls">
  );

export interface FileServer {
  /** Where it listens: `127.0.0.1:PORT`, or `unix:PATH`. */
  readonly address: Address;
  /** The TCP port (0 on a unix socket). */
  readonly port: number;
  /** The TCP address (empty on a unix socket). */
  readonly hostname: string;
  /** How many stale `.part` files a previous run left behind and startup removed. */
  readonly staleRemoved: number;
  /**
   * Stops accepting, ends every connection, and removes every unfinished upload's temporary file;
   * resolves when that is done (after at most a few seconds).
   */
  close(): Promise<void>;
}

/** Why `dir` cannot be served (missing, or not a directory), or null when it can. */
export async function badServedDir(dir: string): Promise<string | null> {
  const info = await stat(dir).catch((error) => error as Error);
  if (info instanceof Error) return `--dir ${dir}: ${reason(info)}`;
  if (!info.isDirectory()) return `--dir ${dir} is not a directory`;
  return null;
}

/** Removes the temporary files a crashed or killed run left in `dir`; returns how many. */
async function removeStaleParts(dir: string): Promise<number> {
  let removed = 0;
  for (const name of await readdir(dir)) {
    if (!TEMP_NAME.test(name)) continue;
    const path = join(dir, name);
    const info = await lstat(path).catch(() => null);
    if (info === null || info.isDirectory()) continue;
    await unlink(path).then(() => removed++, () => {});
  }
  return removed;
}

/** What the server knows across connections: the temporary files alive, for the final sweep. */
interface ServerState {
  readonly dir: string;
  readonly maxSize: number;
  readonly temps: Set<string>;
  readonly onError: (error: unknown) => void;
}

interface Upload {
  readonly name: string;
  readonly sha256: string;
  readonly size: number;
  readonly temp: string;
  readonly final: string;
  readonly file: FileHandle;
  readonly hash: Hash;
}

const WRITE_FLAGS = constants.O_WRONLY | constants.O_CREAT | constants.O_EXCL |
  constants.O_NOFOLLOW;
// O_NONBLOCK: opening a FIFO someone left in the folder must not hang the connection; it is then
// refused as not a regular file. It changes nothing for regular files.
const READ_FLAGS = constants.O_RDONLY | constants.O_NOFOLLOW | constants.O_NONBLOCK;

/** Serves one connection: any number of put/get requests, one after another. */
async function serveFiles(
  stream: ByteStream,
  state: ServerState,
  aborted: Promise<void>,
): Promise<void> {
  const { dir, maxSize, temps } = state;
  let upload: Upload | null = null;
  let stopped = false; // the connection is over: whatever a handler still finishes is undone
  // After refusing an upload the server answers nothing more: it half-closes, so the client reads
  // the refusal and stops, and discards what is still in flight (closing at once, with unread
  // bytes, would make the kernel reset the connection and could destroy the refusal in transit).
  // A client that keeps sending is cut off after DISCARD_MS.
  let discarding = false;
  let cutOff: () => void = () => {};
  const cutOffTimer = new Promise<void>((resolve) => (cutOff = resolve));

  const removeTemp = async (temp: string) => {
    await unlink(temp).catch(() => {});
    temps.delete(temp);
  };
  const dropUpload = async () => {
    const unfinished = upload;
    upload = null;
    if (unfinished === null) return;
    await unfinished.file.close().catch(() => {});
    await removeTemp(unfinished.temp);
  };
  const refuse = (error: string) => reply(stream, { ok: false, error, file_size: 0 });
  const refuseAndDiscard = async (error: string) => {
    await dropUpload();
    await refuse(error);
    discarding = true;
    await stream.closeWrite().catch(() => {});
    setTimeout(cutOff, DISCARD_MS);
  };

  const startUpload = async (header: Record<string, unknown>, size: number) => {
    const name = header.file_name as string;
    const final = join(dir, name);
    // A policy check; the rename below cannot write through a link created after it anyway.
    const existing = await lstat(final).catch(() => null);
    if (existing?.isSymbolicLink()) {
      return await refuseAndDiscard(`${name} is a symbolic link; refusing to replace it`);
    }
    if (existing !== null && !existing.isFile()) {
      return await refuseAndDiscard(`${name} exists and is not a regular file`);
    }
    const temp = join(dir, tempName(name));
    temps.add(temp); // before it exists, so that the final sweep cannot miss it
    let file: FileHandle;
    try {
      file = await open(temp, WRITE_FLAGS, 0o644);
    } catch (error) {
      temps.delete(temp);
      return await refuseAndDiscard(`cannot store ${name}: ${reason(error)}`);
    }
    upload = {
      name,
      sha256: header.sha256 as string,
      size,
      temp,
      final,
      file,
      hash: createHash("sha256"),
    };
    if (stopped) await dropUpload(); // the connection ended while the file was being created
  };

  const storeChunk = async (current: Upload, chunk: Uint8Array) => {
    try {
      await writeAll(current.file, chunk);
    } catch (error) {
      return await refuseAndDiscard(`cannot store ${current.name}: ${reason(error)}`);
    }
    current.hash.update(chunk);
  };

  const finishUpload = async (done: Upload) => {
    try {
      await done.file.close(); // a full disk may only show here, on file systems that delay writes
    } catch (error) {
      await dropUpload();
      return await refuse(`cannot store ${done.name}: ${reason(error)}`);
    }
    const digest = done.hash.digest("hex");
    if (digest !== done.sha256) {
      await dropUpload();
      return await refuse(
        `sha256 mismatch: the header says ${done.sha256}, the body hashes to ${digest}`,
      );
    }
    try {
      await rename(done.temp, done.final); // appears under its name only once complete
    } catch (error) {
      await dropUpload();
      return await refuse(`cannot store ${done.name}: ${reason(error)}`);
    }
    upload = null;
    temps.delete(done.temp);
    // file_size is always the reply's body length (none here); stored_bytes says what was kept.
    await reply(stream, {
      ok: true,
      file_name: done.name,
      file_size: 0,
      stored_bytes: done.size,
      sha256: digest,
    });
  };

  const sendFile = async (name: string) => {
    let file: FileHandle;
    try {
      file = await open(join(dir, name), READ_FLAGS);
    } catch (error) {
      const code = (error as { code?: unknown }).code;
      // O_NOFOLLOW on a link fails with ELOOP on Linux (EMLINK on FreeBSD).
      if (code === "ELOOP" || code === "EMLINK") {
        return await refuse(`${name} is a symbolic link; refusing to follow it`);
      }
      if (code === "ENOENT") return await refuse(`no such file: ${name}`);
      return await refuse(`cannot read ${name}: ${reason(error)}`);
    }
    try {
      // Checked on the opened descriptor, so nothing can be swapped in between.
      const info = await file.stat();
      if (!info.isFile()) return await refuse(`${name} is not a regular file`);
      let sha256: string;
      try {
        sha256 = await sha256Of(file, info.size);
      } catch (error) {
        return await refuse(`cannot read ${name}: ${reason(error)}`);
      }
      await reply(stream, { ok: true, file_name: name, file_size: info.size, sha256 }, info.size);
      // Exactly info.size bytes, even if the file grows meanwhile; a shrunk file cuts the
      // connection (the body cannot be completed), and the client reports it.
      await sendFileBody(stream, file, info.size);
    } finally {
      await file.close().catch(() => {});
    }
  };

  const handle = async (event: JsonHeaderEvent) => {
    if (discarding || stopped) return;
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
        // Refused before a single byte is written; the body that follows is discarded.
        if (problem !== null) return await refuseAndDiscard(problem);
        await startUpload(header, event.bodyLength);
      } else if (header.op === "get") {
        if (bad !== null) return await refuse(bad);
        await sendFile(header.file_name as string);
      } else {
        return await refuseAndDiscard(`unknown op ${JSON.stringify(header.op)}`);
      }
    } else if (event.type === "body" && upload !== null) {
      await storeChunk(upload, event.chunk);
    } else if (event.type === "end" && upload !== null) {
      await finishUpload(upload);
    }
  };

  let wasAborted = false;
  const pumping = pumpEvents(stream, handle);
  pumping.catch(() => {}); // reported below when it wins the race; never unhandled
  try {
    await Promise.race([cutOffTimer, aborted.then(() => void (wasAborted = true)), pumping]);
  } catch (error) {
    if (!discarding) state.onError(error);
  } finally {
    stopped = true;
    // Stopping: close first, so that a download blocked on a peer that does not read ends now.
    if (wasAborted) stream.close();
    await dropUpload();
    await stream.closeWrite().catch(() => {});
    stream.close();
  }
}

/** Per-connection accept failures: the peer went away before accept() returned. Skip at once. */
const PEER_ACCEPT_ERRORS = new Set([
  "ECONNABORTED",
  "ECONNRESET",
  "ENOTCONN",
  "EPROTO",
  // Deno's error classes, when a runtime gives a name but no code.
  "ConnectionAborted",
  "ConnectionReset",
  "NotConnected",
]);
/** Process-wide accept failures: out of descriptors or buffers. Back off briefly, then retry. */
const RESOURCE_ACCEPT_ERRORS = new Set(["EMFILE", "ENFILE", "ENOBUFS", "ENOMEM"]);

/**
 * Accepts until the listener closes. No error ends the loop: a peer's (Deno's native accept()
 * throws NotConnected for a peer that reset before it was accepted; reproduced with SO_LINGER 0
 * connects) is skipped at once, a failed TLS handshake (a TlsError naming that peer, which a TLS
 * listener throws from accept()) is reported and skipped at once, a resource shortage waits
 * RESOURCE_BACKOFF_MS, anything else is reported and waits as long (so a persistent failure
 * cannot spin).
 */
async function acceptEach(
  listener: ByteListener,
  isClosing: () => boolean,
  each: (stream: ByteStream) => void,
  onError: (error: unknown) => void,
): Promise<void> {
  while (!isClosing()) {
    let stream: ByteStream | null;
    try {
      stream = await listener.accept();
    } catch (error) {
      if (isClosing()) return;
      // One client's failure, not the process's: waiting would only let others pile up.
      if (error instanceof TlsError) {
        onError(error);
        continue;
      }
      const { code, name } = error as { code?: unknown; name?: unknown };
      if (PEER_ACCEPT_ERRORS.has(String(code)) || PEER_ACCEPT_ERRORS.has(String(name))) continue;
      if (!RESOURCE_ACCEPT_ERRORS.has(String(code))) onError(error);
      await new Promise((resolve) => setTimeout(resolve, RESOURCE_BACKOFF_MS));
      continue;
    }
    if (stream === null) return;
    each(stream);
  }
}

/**
 * Starts the file server; resolves with its port and a way to stop it.
 * @throws {Error} When `dir` does not exist or is not a directory.
 */
export async function fileServer(options: FileServerOptions): Promise<FileServer> {
  const problem = await badServedDir(options.dir);
  if (problem !== null) throw new Error(problem);
  const staleRemoved = await removeStaleParts(options.dir);
  const onError = options.onError ?? (() => {});
  const state: ServerState = {
    dir: options.dir,
    maxSize: options.maxSize ?? DEFAULT_MAX_UPLOAD,
    temps: new Set(),
    onError: (error) => {
      try {
        onError(error);
      } catch {
        // A throwing onError must not take a connection's cleanup down with it.
      }
    },
  };
  const listener: ByteListener = options.listener ??
    (options.path !== undefined
      ? await listenStreams({ path: options.path, api: options.api })
      : await listenStreams({
        hostname: options.hostname ?? "127.0.0.1",
        port: options.port ?? 0,
        tls: options.tls,
        api: options.api,
      }));
  const sessions = new Map<Promise<void>, () => void>();
  let closing = false;
  const accepting = acceptEach(listener, () => closing, (stream) => {
    let abort: () => void = () => {};
    const aborted = new Promise<void>((resolve) => (abort = resolve));
    const done: Promise<void> = serveFiles(stream, state, aborted)
      .catch(state.onError)
      .finally(() => sessions.delete(done));
    sessions.set(done, abort);
  }, state.onError);

  const close = async () => {
    if (!closing) {
      closing = true;
      listener.close();
      for (const abort of sessions.values()) abort();
    }
    let waited: ReturnType<typeof setTimeout> | undefined;
    await Promise.race([
      // The accept loop too: Deno removes a unix socket's file only once the accept() pending at
      // close() has returned (a process that exits before that leaves the file behind; seen on
      // Deno 2.9.6 with `file-server --unix`).
      Promise.all([accepting, ...sessions.keys()]),
      new Promise((resolve) => (waited = setTimeout(resolve, CLOSE_WAIT_MS))),
    ]);
    clearTimeout(waited);
    // Whatever is still registered (a connection stuck on a slow disk): removed now, in one go.
    for (const temp of state.temps) {
      try {
        unlinkSync(temp);
      } catch {
        // Already gone.
      }
    }
    state.temps.clear();
  };

  const address = listener.address;
  return {
    address,
    port: address.transport === "unix" ? 0 : address.port,
    hostname: address.transport === "unix" ? "" : address.hostname,
    staleRemoved,
    close,
  };
}

// ── Client ───────────────────────────────────────────────────────────────────────────────────

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

/** Where a client connects: TCP (`hostname`, `port`), TLS (`tls` as well) or unix (`path`). */
export type FileClientOptions = ConnectStreamOptions & { api?: SocketApi };

/** Uploads `path`; resolves with the server's reply header, rejects with its refusal. */
export async function putFile(
  options: FileClientOptions,
  path: string,
  name = basename(path),
) {
  const file = await open(path, "r");
  try {
    const info = await file.stat();
    const sha256 = await sha256Of(file, info.size);
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
      // The server said no: stop sending.
      await sendFileBody(stream, file, info.size, () => refused !== null);
    } catch (error) {
      sendError = error; // perhaps because the server refused and stopped reading: ask the reply
    }
    const header = await Promise.race([replied, reader.finished.then(() => null, () => null)]);
    stream.close();
    if (header !== null && header.ok !== true) throw new Error(String(header.error));
    if (sendError !== null) throw sendError;
    if (header === null) throw new Error("the server closed the connection without a reply");
    return header;
  } finally {
    await file.close();
  }
}

/** Downloads `name` into `out`; verifies its sha256 before it appears under `out`. */
export async function getFile(
  options: FileClientOptions,
  name: string,
  out: string,
) {
  const stream = await connectStream(options);
  const temp = `${out}.${randomBytes(TEMP_ID_BYTES).toString("hex")}.part`;
  const file = await open(temp, "wx");
  const hash = createHash("sha256");
  const reader = replyReader(stream, async (chunk) => {
    await writeAll(file, chunk);
    hash.update(chunk);
  });
  const headerPromise = reader.header();
  const endPromise = reader.end();
  try {
    await sendAll(stream, codec.encodeHeader({ op: "get", file_name: name }, 0));
    const header = await Promise.race([
      headerPromise,
      reader.finished.then((): Record<string, unknown> => ({
        ok: false,
        error: "the server closed the connection without a reply",
      })),
    ]);
    if (header.ok !== true) throw new Error(String(header.error));
    await Promise.race([
      endPromise,
      reader.finished.then(() => {
        throw new Error("the server closed the connection before the whole file arrived");
      }),
    ]);
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
