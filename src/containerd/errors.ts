/**
 * containerd's answers as ocictl errors. gRPC status codes map to
 * {@link ContainerdError}: code 'NOT_FOUND' for NotFound, 'CONTAINERD'
 * otherwise, with containerd's own message; `grpcCode` keeps the status so
 * callers can tell AlreadyExists, FailedPrecondition, Unavailable apart.
 */
import { OcictlError, type ErrorCode } from '../errors.js';

/** gRPC status codes (the numbers are gRPC's, fixed by the protocol). */
export const GrpcCode = {
  OK: 0,
  CANCELLED: 1,
  UNKNOWN: 2,
  INVALID_ARGUMENT: 3,
  DEADLINE_EXCEEDED: 4,
  NOT_FOUND: 5,
  ALREADY_EXISTS: 6,
  PERMISSION_DENIED: 7,
  RESOURCE_EXHAUSTED: 8,
  FAILED_PRECONDITION: 9,
  ABORTED: 10,
  OUT_OF_RANGE: 11,
  UNIMPLEMENTED: 12,
  INTERNAL: 13,
  UNAVAILABLE: 14,
  DATA_LOSS: 15,
  UNAUTHENTICATED: 16,
} as const;
export type GrpcCodeName = keyof typeof GrpcCode;

function codeName(code: number): GrpcCodeName | 'UNKNOWN' {
  for (const [k, v] of Object.entries(GrpcCode)) if (v === code) return k as GrpcCodeName;
  return 'UNKNOWN';
}

/** An error answered by containerd (or by the gRPC channel to it). */
export class ContainerdError extends OcictlError {
  /** The gRPC status code (see {@link GrpcCode}). */
  readonly grpcCode: number;
  /** The RPC that failed, e.g. `content.Write`. */
  readonly rpc: string;
  constructor(code: ErrorCode, message: string, grpcCode: number, rpc: string, options?: { hint?: string; cause?: unknown }) {
    super(code, message, options);
    this.name = 'ContainerdError';
    this.grpcCode = grpcCode;
    this.rpc = rpc;
  }
  get grpcCodeName(): GrpcCodeName | 'UNKNOWN' {
    return codeName(this.grpcCode);
  }
  get isNotFound(): boolean {
    return this.grpcCode === GrpcCode.NOT_FOUND;
  }
  get isAlreadyExists(): boolean {
    return this.grpcCode === GrpcCode.ALREADY_EXISTS;
  }
  get isFailedPrecondition(): boolean {
    return this.grpcCode === GrpcCode.FAILED_PRECONDITION;
  }
  get isUnavailable(): boolean {
    return this.grpcCode === GrpcCode.UNAVAILABLE;
  }
}

export function isContainerdError(e: unknown, grpcCode?: number): e is ContainerdError {
  return e instanceof ContainerdError && (grpcCode === undefined || e.grpcCode === grpcCode);
}

interface GrpcStatusLike {
  code?: unknown;
  details?: unknown;
  message?: unknown;
}

/** Turns a grpc-js ServiceError (or anything thrown on a call) into a {@link ContainerdError}. */
export function fromGrpc(err: unknown, rpc: string, address: string): ContainerdError {
  if (err instanceof ContainerdError) return err;
  const e = (err ?? {}) as GrpcStatusLike;
  const code = typeof e.code === 'number' ? e.code : GrpcCode.UNKNOWN;
  const details = typeof e.details === 'string' && e.details ? e.details : typeof e.message === 'string' ? e.message : String(err);
  const oneLine = details.replace(/\s*\n\s*/g, ' ').trim();
  if (code === GrpcCode.NOT_FOUND) return new ContainerdError('NOT_FOUND', `containerd ${rpc}: ${oneLine}`, code, rpc, { cause: err });
  if (code === GrpcCode.UNAVAILABLE && /connect|socket|ECONNREFUSED|ENOENT|EACCES|No connection|dropped/i.test(oneLine)) {
    const why = /ECONNREFUSED/.test(oneLine)
      ? 'connection refused'
      : /ENOENT/.test(oneLine)
        ? 'socket gone'
        : /EACCES/.test(oneLine)
          ? 'permission denied'
          : oneLine.replace(/\s*Resolution note:.*$/, '');
    return new ContainerdError('CONTAINERD', `containerd at ${address} is not answering (${rpc}: ${why})`, code, rpc, {
      hint: 'check that containerd is running, pass --address SOCKET, or use --store local',
      cause: err,
    });
  }
  if (code === GrpcCode.DEADLINE_EXCEEDED) {
    return new ContainerdError('CONTAINERD', `containerd at ${address} did not answer ${rpc} in time`, code, rpc, { cause: err });
  }
  return new ContainerdError('CONTAINERD', `containerd ${rpc}: ${oneLine}`, code, rpc, { cause: err });
}
