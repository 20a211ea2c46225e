import { test } from "node:test";
import assert from "node:assert/strict";
import { ACK, AckProtocolError, AckReceiver, AckSender, FrameTooLargeError, NAK } from "../mod.ts";
import { hex, seededRandom, utf8 } from "./_helpers.ts";

/** Runs a full exchange of `messages` between both state machines, cutting every transfer randomly. */
function exchange(messages: Uint8Array[], seed: number): Uint8Array[] {
  const random = seededRandom(seed);
  const sender = new AckSender();
  const receiver = new AckReceiver();
  const received: Uint8Array[] = [];
  const deliver = (bytes: Uint8Array) => {
    for (let at = 0; at < bytes.length;) {
      const size = 1 + Math.floor(random() * 6);
      receiver.push(bytes.slice(at, at + size), (f) => received.push(f.slice()));
      at += size;
    }
  };
  for (const message of messages) {
    deliver(sender.announce(message));
    assert.equal(sender.state, "awaiting-ack");
    const reply = receiver.takeReply();
    assert.deepEqual(reply, new Uint8Array([ACK]), "exactly one ACK per announced message");
    deliver(sender.receive(reply!)!);
    assert.equal(sender.state, "idle");
  }
  receiver.finish();
  return received;
}

test("the ack handshake delivers every message, including empty ones, under 10,000 random cuts", () => {
  const messages = [utf8("hello"), new Uint8Array(0), utf8("world"), new Uint8Array(300).fill(3)];
  for (let seed = 0; seed < 10_000; seed++) assert.deepEqual(exchange(messages, seed), messages);
});

test("the wire bytes are a u32be length, one 0x06, then the payload", () => {
  const sender = new AckSender();
  assert.equal(hex(sender.announce(utf8("hi"))), "00000002");
  assert.deepEqual(sender.receive(new Uint8Array([0x06])), utf8("hi"));
});

test("a frame over the receiver's limit is answered with a NAK and refused", () => {
  const receiver = new AckReceiver({ maxFrameLength: 4 });
  const sender = new AckSender({ maxFrameLength: 100 });
  assert.throws(
    () => receiver.push(sender.announce(new Uint8Array(5)), () => {}),
    FrameTooLargeError,
  );
  const reply = receiver.takeReply();
  assert.deepEqual(reply, new Uint8Array([NAK]));
  assert.throws(
    () => sender.receive(reply!),
    (error: unknown) => error instanceof AckProtocolError && error.reason === "refused",
  );
});

test("the sender refuses a second announcement before the first ACK", () => {
  const sender = new AckSender();
  sender.announce(utf8("a"));
  assert.throws(
    () => sender.announce(utf8("b")),
    (error: unknown) => error instanceof AckProtocolError && error.reason === "busy",
  );
});

test("an unexpected reply byte or an unsolicited ACK is a protocol error", () => {
  const sender = new AckSender();
  assert.throws(() => sender.receive(new Uint8Array([ACK])), AckProtocolError);
  sender.announce(utf8("a"));
  assert.throws(
    () => sender.receive(new Uint8Array([0x41])),
    (error: unknown) => error instanceof AckProtocolError && error.reason === "unexpected-byte",
  );
});

test("the sender refuses to announce a payload over its own limit", () => {
  assert.throws(
    () => new AckSender({ lengthFormat: "u8" }).announce(new Uint8Array(256)),
    FrameTooLargeError,
  );
});
