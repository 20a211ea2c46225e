// Internal: the framing when none is given, shared by connect(), listen() and serve().

import type { Codec } from "./codec.ts";
import { lengthPrefix } from "./length_prefix.ts";

/** `codec`, or `lengthPrefix()` (u32be, 16 MiB), whose frames are the default `Uint8Array`. */
export function codecOrDefault<T>(codec: Codec<T> | undefined): Codec<T> {
  return codec ?? (lengthPrefix() as unknown as Codec<T>);
}
