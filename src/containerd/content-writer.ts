/**
 * A blob written into containerd through content's Write stream, resumable:
 * the stream opens with a STAT that names the ref, total and expected digest,
 * and containerd answers the offset it already holds for that ref; WRITEs
 * then carry the running offset (containerd refuses one that is not its own),
 * and COMMIT makes containerd verify size and digest.
 *
 * containerd answers every request on the stream; WRITEs are pipelined (the
 * answers are read as they come and only checked), so the stream's own flow
 * control is the backpressure.
 */
import { OcictlError } from '../errors.js';
import { ContainerdError, GrpcCode, fromGrpc } from './errors.js';
import type { CallContext, Channel, DuplexCall, Message } from './rpc.js';
import type { ContentWriter, Labels, WriterOptions } from './types.js';

const STAT = 0;
const WRITE = 1;
const COMMIT = 2;

function num(v: unknown): number {
  return typeof v === 'number' ? v : Number(v ?? 0);
}

class StreamWriter implements ContentWriter {
  private call: DuplexCall | undefined;
  private failure: ContainerdError | undefined;
  private rejectFailed: (e: ContainerdError) => void = () => {};
  /** Rejects with the stream's failure (handled: it only takes part in races). */
  private readonly failedP = new Promise<never>((_, reject) => {
    this.rejectFailed = reject;
  });
  private ended = false;
  private endWaiters: (() => void)[] = [];
  private committed = false;
  private _offset = 0;
  private _exists = false;
  private statWaiter: ((m: Message) => void) | undefined;

  constructor(
    private readonly chan: Channel,
    private readonly ctx: CallContext,
    readonly ref: string,
    private readonly opts: WriterOptions,
  ) {
    this.failedP.catch(() => {});
  }

  get offset(): number {
    return this._offset;
  }
  get exists(): boolean {
    return this._exists;
  }

  async open(): Promise<void> {
    const call = this.chan.bidi(this.ctx, 'content', 'Write');
    this.call = call;
    call.on('data', (m: Message) => {
      const action = num(m['action']);
      if (action === STAT && this.statWaiter) {
        const w = this.statWaiter;
        this.statWaiter = undefined;
        w(m);
      } else if (action === COMMIT) {
        this.committed = true;
      }
    });
    call.on('error', (e) => this.fail(fromGrpc(e, 'content.Write', this.chan.address)));
    call.on('status', () => this.finish());
    call.on('end', () => this.finish());
    const first = Promise.race([
      new Promise<Message>((resolve) => {
        this.statWaiter = resolve;
      }),
      this.failedP,
    ]);
    call.write({ action: STAT, ref: this.ref, total: this.opts.total, expected: this.opts.expected });
    let stat: Message;
    try {
      stat = await first;
    } catch (e) {
      if (e instanceof ContainerdError && e.isAlreadyExists) {
        this._exists = true;
        this._offset = this.opts.total;
        return;
      }
      throw e;
    }
    const held = num(stat['offset']);
    this._offset = this.opts.resume === false ? 0 : held;
    if (this._offset > this.opts.total) this._offset = 0;
  }

  private fail(e: ContainerdError): void {
    if (this.failure) return;
    this.failure = e;
    this.rejectFailed(e);
    this.finish();
  }

  private finish(): void {
    if (this.ended) return;
    this.ended = true;
    const ws = this.endWaiters;
    this.endWaiters = [];
    for (const w of ws) w();
  }

  private failed(): Promise<never> {
    return this.failedP;
  }

  private message(chunk: Buffer): Message {
    if (this._offset + chunk.length > this.opts.total) {
      throw new OcictlError('SIZE_MISMATCH', `content ${this.opts.expected}: more than the expected ${this.opts.total} bytes written`);
    }
    const m = { action: WRITE, offset: this._offset, data: chunk };
    this._offset += chunk.length;
    return m;
  }

  private usable(): DuplexCall | undefined {
    if (this._exists) return undefined;
    if (this.failure) throw this.failure;
    if (!this.call || this.ended) throw new OcictlError('CONTAINERD', `content writer ${this.ref} is closed`);
    return this.call;
  }

  async write(chunk: Buffer): Promise<void> {
    const call = this.usable();
    if (!call || chunk.length === 0) return;
    const m = this.message(chunk);
    const written = new Promise<void>((resolve, reject) => {
      call.write(m, (err: Error | null | undefined) => (err ? reject(this.failure ?? fromGrpc(err, 'content.Write', this.chan.address)) : resolve()));
    });
    await Promise.race([written, this.failed()]);
  }

  push(chunk: Buffer): boolean {
    const call = this.usable();
    if (!call || chunk.length === 0) return true;
    return call.write(this.message(chunk));
  }

  async ready(): Promise<void> {
    const call = this.usable();
    if (!call || !call.writableNeedDrain) return;
    await Promise.race([new Promise<void>((resolve) => call.once('drain', () => resolve())), this.failed()]);
  }

  async commit(labels?: Labels): Promise<void> {
    if (this._exists) return;
    if (this.failure) {
      if (this.failure.isAlreadyExists) return;
      throw this.failure;
    }
    const call = this.usable();
    if (!call) return;
    if (this._offset !== this.opts.total) {
      throw new OcictlError('SIZE_MISMATCH', `content ${this.opts.expected}: ${this._offset} of ${this.opts.total} bytes written before commit`);
    }
    const done = new Promise<void>((resolve) => {
      if (this.ended) resolve();
      else this.endWaiters.push(resolve);
    });
    call.write({ action: COMMIT, offset: this._offset, total: this.opts.total, expected: this.opts.expected, labels: labels ?? this.opts.labels ?? {} });
    call.end();
    await done;
    if (this.failure) {
      const f = this.failure as ContainerdError;
      if (f.isAlreadyExists) return;
      if (f.grpcCode === GrpcCode.FAILED_PRECONDITION && /unexpected commit digest/i.test(f.message)) {
        throw new ContainerdError('DIGEST_MISMATCH', f.message, f.grpcCode, f.rpc, { cause: f });
      }
      if (f.grpcCode === GrpcCode.FAILED_PRECONDITION && /unexpected commit size/i.test(f.message)) {
        throw new ContainerdError('SIZE_MISMATCH', f.message, f.grpcCode, f.rpc, { cause: f });
      }
      throw f;
    }
    if (!this.committed) throw new OcictlError('CONTAINERD', `containerd closed the write of ${this.ref} without confirming the commit`);
  }

  close(): void {
    if (this.call && !this.ended) {
      this.fail(new ContainerdError('CONTAINERD', `content writer ${this.ref} is closed`, GrpcCode.CANCELLED, 'content.Write'));
      this.call.cancel();
    }
  }

  async abort(): Promise<void> {
    const wasOpen = this.call !== undefined && !this.ended;
    this.close();
    if (wasOpen) {
      // containerd releases the ref's lock when it sees the stream end.
      await new Promise<void>((resolve) => {
        if (this.ended) resolve();
        else this.endWaiters.push(resolve);
      });
    }
    for (let attempt = 0; ; attempt++) {
      try {
        await this.chan.unary(this.ctx, 'content', 'Abort', { ref: this.ref });
        return;
      } catch (e) {
        if (e instanceof ContainerdError && e.isNotFound) return;
        if (e instanceof ContainerdError && e.isUnavailable && attempt < 20) {
          await new Promise((r) => setTimeout(r, 25));
          continue;
        }
        throw e;
      }
    }
  }
}

/** Opens content's Write stream for `ref` and asks containerd what it holds for it. */
export async function openContentWriter(chan: Channel, ctx: CallContext, ref: string, opts: WriterOptions): Promise<ContentWriter> {
  if (!ref) throw new OcictlError('INVALID_ARGUMENT', 'a content writer needs a ref');
  if (!Number.isSafeInteger(opts.total) || opts.total < 0) throw new OcictlError('INVALID_ARGUMENT', `content ${opts.expected}: bad size ${opts.total}`);
  const w = new StreamWriter(chan, ctx, ref, opts);
  await w.open();
  return w;
}
