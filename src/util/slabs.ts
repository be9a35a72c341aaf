/**
 * Reused, page-aligned 1 MiB buffers ("slabs") for blob writes.
 *
 * Reuse matters on these VMs, where the first touch of a fresh page costs
 * ~10–20 µs; alignment lets a slab be written with O_DIRECT, which skips the
 * page cache (whose growth into fresh pages is the other big cost: see
 * docs/performance.md). Slabs are carved from WebAssembly memories, whose
 * backing store is page-aligned, as O_DIRECT needs; Node gives no other way
 * to an aligned Buffer.
 */

export const SLAB_BYTES = 1024 * 1024;
/** Memory is reserved this many slabs at a time. */
const SLABS_PER_GROW = 4;
/** Free slabs kept for reuse (beyond that they are dropped). */
const MAX_FREE = 24;

const free: Buffer[] = [];

export function acquireSlab(): Buffer {
  const b = free.pop();
  if (b) return b;
  const mem = new WebAssembly.Memory({ initial: (SLAB_BYTES * SLABS_PER_GROW) / 65536 });
  for (let i = 1; i < SLABS_PER_GROW; i++) free.push(Buffer.from(mem.buffer, i * SLAB_BYTES, SLAB_BYTES));
  return Buffer.from(mem.buffer, 0, SLAB_BYTES);
}

export function releaseSlab(b: Buffer): void {
  if (free.length < MAX_FREE) free.push(b);
}

/** A writer that lends memory for the next bytes (`space`) and is told how much was put there (`filled`). */
export interface SpaceLender {
  space(max: number): Buffer;
  /** false: wait for the writer's ready() before the next bytes. */
  filled(n: number): boolean;
}

/**
 * Copies borrowed bytes (valid only during the call) into the memory a writer lends, piece by
 * piece: the one way a `take()` fills slabs. Returns the last `filled` answer, or `more` for an
 * empty chunk.
 */
export function copyIntoSpace(chunk: Buffer, w: SpaceLender, more = true): boolean {
  for (let off = 0; off < chunk.length; ) {
    const room = w.space(chunk.length - off);
    chunk.copy(room, 0, off, off + room.length);
    off += room.length;
    more = w.filled(room.length);
  }
  return more;
}

/**
 * How many slabs one producer has in use, with a limit it waits on (one slab
 * goes out while the next fills): the backpressure of every slab writer.
 */
export class SlabGate {
  private inUse = 0;
  private waiters: (() => void)[] = [];

  constructor(private readonly limit: number) {}

  /** Whether another slab may be taken without waiting. */
  get open(): boolean {
    return this.inUse < this.limit;
  }

  enter(): void {
    this.inUse++;
  }

  leave(): void {
    this.inUse--;
    this.waiters.shift()?.();
  }

  /** Resolves once a slab may be taken. */
  async room(): Promise<void> {
    while (this.inUse >= this.limit) await new Promise<void>((r) => this.waiters.push(r));
  }

  /** Wakes every waiter (a producer that is being cancelled). */
  wakeAll(): void {
    for (const w of this.waiters.splice(0)) w();
  }
}

export interface GatedSlab {
  slab: Buffer;
  /** Gives the slab back for reuse (once). */
  release: () => void;
  /** Leaves the gate without giving the slab back: memory a socket may still read into is never reused. */
  drop: () => void;
}

/** A slab counted against `gate`. */
export function gatedSlab(gate: SlabGate): GatedSlab {
  gate.enter();
  const slab = acquireSlab();
  let done = false;
  const leave = (reuse: boolean): void => {
    if (done) return;
    done = true;
    if (reuse) releaseSlab(slab);
    gate.leave();
  };
  return { slab, release: () => leave(true), drop: () => leave(false) };
}

/** Alignment (offset and length) of a write that may go through O_DIRECT. */
export const DIRECT_ALIGN = 4096;
