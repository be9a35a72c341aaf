/**
 * content's Write stream spoken over one HTTP/2 session of Node's own, for
 * the bulk of a pull: each WRITE goes out as a 5-byte gRPC frame prefix and a
 * few bytes of protobuf header, then the caller's buffer itself, with no copy.
 *
 * Why not through grpc-js: there every message is encoded by protobufjs (one
 * copy of the data) and framed (a second copy), each into freshly allocated
 * memory; measured here, 100 MiB went into containerd at ~45 MB/s with
 * ~0.8 s of Node CPU, where `ctr content ingest` took 0.9 s for the same.
 * The protocol is the same (STAT with ref, total and expected digest, which
 * containerd answers with the offset it holds; WRITEs at the running offset;
 * COMMIT, where containerd verifies size and digest); the small messages use
 * the client's checked definitions (src/containerd/proto.ts).
 */
import http2 from 'node:http2';
import net from 'node:net';
import { OcictlError } from '../errors.js';
import { ContainerdError } from '../containerd/errors.js';
import type { Codec } from '../containerd/proto.js';
import { socketPath } from '../containerd/socket.js';
import type { Labels } from '../containerd/types.js';

const PATH = '/containerd.services.content.v1.Content/Write';
const REQUEST = 'containerd.services.content.v1.WriteContentRequest';
const RESPONSE = 'containerd.services.content.v1.WriteContentResponse';
const STAT = 0;
const WRITE = 1;
const COMMIT = 2;

/** gRPC status codes used here (fixed by the protocol). */
const ALREADY_EXISTS = 6;
const FAILED_PRECONDITION = 9;
const UNAVAILABLE = 14;

/** One HTTP/2 session to containerd's socket, shared by the writers of a store. */
export class WriteSession {
  private session: http2.ClientHttp2Session | undefined;

  constructor(private readonly address: string) {}

  connect(): http2.ClientHttp2Session {
    if (!this.session || this.session.closed || this.session.destroyed) {
      const sock = socketPath(this.address);
      const s = http2.connect('http://localhost', {
        createConnection: () => net.connect(sock),
        settings: { initialWindowSize: 1 << 20 },
        // Node refuses streams (ENHANCE_YOUR_CALM) past 10 MB of outstanding session data by default.
        maxSessionMemory: 64,
      });
      s.on('error', () => undefined);
      this.session = s;
    }
    return this.session;
  }

  close(): void {
    this.session?.close();
    this.session = undefined;
  }
}

function varint(n: number, out: number[]): void {
  let v = n;
  while (v >= 0x80) {
    out.push((v % 0x80) | 0x80);
    v = Math.floor(v / 0x80);
  }
  out.push(v);
}

/** The gRPC frame prefix and protobuf header of a WRITE of `len` bytes at `offset` (the data follows as is). */
function writeHeader(offset: number, len: number): Buffer {
  const pb: number[] = [0x08, WRITE]; // field 1 (action), varint
  if (offset > 0) {
    pb.push(0x28); // field 5 (offset), varint
    varint(offset, pb);
  }
  pb.push(0x32); // field 6 (data), length-delimited
  varint(len, pb);
  const h = Buffer.allocUnsafe(5 + pb.length);
  h[0] = 0;
  h.writeUInt32BE(pb.length + len, 1);
  for (let i = 0; i < pb.length; i++) h[5 + i] = pb[i] as number;
  return h;
}

/** The codecs of the Write messages (proto.ts loads protobufjs: imported on first use only). */
let codecs: Promise<{ req: Codec; res: Codec }> | undefined;
function writeCodecs(): Promise<{ req: Codec; res: Codec }> {
  codecs ??= import('../containerd/proto.js').then((m) => ({ req: m.codec(REQUEST), res: m.codec(RESPONSE) }));
  return codecs;
}

function frame(msg: Buffer): Buffer {
  const h = Buffer.allocUnsafe(5);
  h[0] = 0;
  h.writeUInt32BE(msg.length, 1);
  return Buffer.concat([h, msg]);
}

export interface RawWriterOptions {
  namespace: string;
  lease?: string;
  ref: string;
  total: number;
  expected: string;
}

/** A Write stream: `open()` says what containerd holds; `write()` sends a buffer (kept until its promise resolves); `commit()` verifies. */
export class RawContentWriter {
  private stream: http2.ClientHttp2Stream | undefined;
  private pending: Buffer = Buffer.alloc(0);
  /** containerd's answers, kept encoded: most are WRITE acknowledgements nobody reads. */
  private answers: Buffer[] = [];
  private res: Codec | undefined;
  private waiter: (() => void) | undefined;
  private failure: Error | undefined;
  private ended = false;
  private _offset = 0;
  private req: Codec | undefined;
  /** containerd already has the blob (commit() then does nothing). */
  exists = false;

  constructor(private readonly session: WriteSession, private readonly address: string, private readonly o: RawWriterOptions) {}

  get offset(): number {
    return this._offset;
  }

  private wake(): void {
    const w = this.waiter;
    this.waiter = undefined;
    w?.();
  }

  private fail(e: Error): void {
    this.failure ??= e;
    this.wake();
  }

  private grpcError(code: number, message: string): Error {
    const rpc = 'content.Write';
    if (code === FAILED_PRECONDITION && /unexpected commit digest/i.test(message)) return new ContainerdError('DIGEST_MISMATCH', message, code, rpc);
    if (code === FAILED_PRECONDITION && /unexpected commit size|unexpected size/i.test(message)) return new ContainerdError('SIZE_MISMATCH', message, code, rpc);
    if (code === UNAVAILABLE && /closed|refused|ENOENT|connect/i.test(message)) {
      return new ContainerdError('CONTAINERD', `containerd at ${this.address} is not answering (${rpc}: ${message})`, code, rpc);
    }
    return new ContainerdError(code === 5 ? 'NOT_FOUND' : 'CONTAINERD', `containerd ${rpc}: ${message}`, code, rpc);
  }

  /** Opens the stream and asks containerd what it holds for the ref. */
  async open(): Promise<void> {
    const headers: http2.OutgoingHttpHeaders = {
      ':method': 'POST',
      ':path': PATH,
      'content-type': 'application/grpc',
      te: 'trailers',
      'containerd-namespace': this.o.namespace,
    };
    if (this.o.lease) headers['containerd-lease'] = this.o.lease;
    const { req, res } = await writeCodecs();
    this.req = req;
    this.res = res;
    const s = this.session.connect().request(headers);
    this.stream = s;
    s.on('data', (chunk: Buffer) => {
      this.pending = this.pending.length ? Buffer.concat([this.pending, chunk]) : chunk;
      while (this.pending.length >= 5) {
        const len = this.pending.readUInt32BE(1);
        if (this.pending.length < 5 + len) break;
        this.answers.push(this.pending.subarray(5, 5 + len));
        this.pending = this.pending.subarray(5 + len);
      }
      // Only the last answer matters: WRITE answers are not waited for one by one.
      if (this.answers.length > 4) this.answers.splice(0, this.answers.length - 4);
      this.wake();
    });
    s.on('trailers', (t: http2.IncomingHttpHeaders) => {
      const code = Number(t['grpc-status'] ?? 0);
      if (code !== 0) this.fail(this.grpcError(code, decodeURIComponent(String(t['grpc-message'] ?? ''))));
    });
    s.on('response', (h: http2.IncomingHttpHeaders) => {
      // A trailers-only answer (an error right away) comes as the response headers.
      if (h['grpc-status'] !== undefined && Number(h['grpc-status']) !== 0) this.fail(this.grpcError(Number(h['grpc-status']), decodeURIComponent(String(h['grpc-message'] ?? ''))));
    });
    s.on('error', (e: Error) => this.fail(new ContainerdError('CONTAINERD', `containerd at ${this.address}: content.Write: ${e.message}`, UNAVAILABLE, 'content.Write')));
    s.on('close', () => {
      this.ended = true;
      this.wake();
    });
    const stat = req.encode({ action: STAT, ref: this.o.ref, total: this.o.total, expected: this.o.expected });
    s.write(frame(stat));
    const first = await this.answer().catch((e: unknown) => {
      if (e instanceof ContainerdError && e.grpcCode === ALREADY_EXISTS) return undefined;
      throw e;
    });
    if (!first) {
      this.exists = true;
      this._offset = this.o.total;
      this.close();
      return;
    }
    const held = Number(first.offset ?? 0);
    this._offset = held <= this.o.total ? held : 0;
  }

  private async answer(): Promise<Record<string, unknown>> {
    for (;;) {
      const a = this.answers.shift();
      if (a) return (this.res as Codec).decode(a);
      if (this.failure) throw this.failure;
      if (this.ended) throw new OcictlError('CONTAINERD', `containerd closed the write of ${this.o.ref} without an answer`);
      await new Promise<void>((r) => {
        this.waiter = r;
      });
    }
  }

  /** Sends `data` at the running offset; resolves once the stream has taken it (the buffer may then be reused). */
  write(data: Buffer): Promise<void> {
    if (this.failure) return Promise.reject(this.failure);
    const s = this.stream;
    if (!s || this.ended) return Promise.reject(new OcictlError('CONTAINERD', `content writer ${this.o.ref} is closed`));
    if (this._offset + data.length > this.o.total) {
      return Promise.reject(new OcictlError('SIZE_MISMATCH', `content ${this.o.expected}: more than the expected ${this.o.total} bytes written`));
    }
    const h = writeHeader(this._offset, data.length);
    this._offset += data.length;
    s.write(h);
    return new Promise<void>((resolve, reject) => {
      s.write(data, (err) => (err ? reject(this.failure ?? err) : resolve()));
    });
  }

  async commit(labels: Labels = {}): Promise<void> {
    if (this.exists) return;
    const s = this.stream;
    if (this.failure) throw this.failure;
    if (!s) throw new OcictlError('CONTAINERD', `content writer ${this.o.ref} is closed`);
    this.answers = [];
    s.write(frame((this.req as Codec).encode({ action: COMMIT, offset: this._offset, total: this.o.total, expected: this.o.expected, labels })));
    s.end();
    for (;;) {
      let a: Record<string, unknown>;
      try {
        a = await this.answer();
      } catch (e) {
        if (e instanceof ContainerdError && e.grpcCode === ALREADY_EXISTS) return;
        throw e;
      }
      if (Number(a.action ?? 0) === COMMIT) return;
    }
  }

  /** Ends the stream; what containerd holds for the ref stays (a later writer resumes from it). */
  close(): void {
    if (this.stream && !this.stream.closed) this.stream.close(http2.constants.NGHTTP2_CANCEL);
    this.ended = true;
  }
}
