/**
 * Typed errors. Every error ocictl raises on purpose is an {@link OcictlError}
 * with a stable `code` that scripts can switch on, a one-line `message`, and
 * an optional `hint` telling the user what to do next.
 */
export type ErrorCode =
  | 'INVALID_REFERENCE'
  | 'INVALID_ARGUMENT'
  | 'UNAUTHORIZED'
  | 'DENIED'
  | 'NOT_FOUND'
  | 'PRECONDITION'
  | 'TOO_MANY_REQUESTS'
  | 'REGISTRY_ERROR'
  | 'TLS_UNKNOWN_CA'
  | 'TLS_ERROR'
  | 'CONNECTION'
  | 'TIMEOUT'
  | 'DIGEST_MISMATCH'
  | 'SIZE_MISMATCH'
  | 'MANIFEST_INVALID'
  | 'UNSUPPORTED'
  | 'LIMIT_EXCEEDED'
  | 'CONFIG_INVALID'
  | 'CREDENTIAL_HELPER'
  | 'NO_CREDENTIALS'
  | 'STORE'
  | 'LOCKED'
  | 'INSECURE'
  | 'UNSAFE_ARCHIVE'
  | 'CONTAINERD'
  | 'INTERNAL';

export class OcictlError extends Error {
  readonly code: ErrorCode;
  readonly hint?: string;
  constructor(code: ErrorCode, message: string, options?: { hint?: string; cause?: unknown }) {
    super(message, options?.cause !== undefined ? { cause: options.cause } : undefined);
    this.name = 'OcictlError';
    this.code = code;
    if (options?.hint) this.hint = options.hint;
  }
  /** The message and hint as one line, as the CLI prints it. */
  oneLine(): string {
    return this.hint ? `${this.message}: ${this.hint}` : this.message;
  }
}

/** An error answered by a registry: HTTP status plus the registry's `{"errors":[...]}` body. */
export class RegistryError extends OcictlError {
  readonly status: number;
  readonly registryErrors: { code: string; message: string; detail?: unknown }[];
  constructor(
    code: ErrorCode,
    message: string,
    status: number,
    registryErrors: { code: string; message: string; detail?: unknown }[] = [],
    options?: { hint?: string; cause?: unknown },
  ) {
    super(code, message, options);
    this.name = 'RegistryError';
    this.status = status;
    this.registryErrors = registryErrors;
  }
}

export function isOcictlError(e: unknown): e is OcictlError {
  return e instanceof OcictlError;
}
