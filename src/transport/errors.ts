/** Turns Node/undici network and TLS errors into one-line OcictlErrors with a next step. */
import { OcictlError } from '../errors.js';

const UNKNOWN_CA = new Set([
  'UNABLE_TO_VERIFY_LEAF_SIGNATURE',
  'SELF_SIGNED_CERT_IN_CHAIN',
  'DEPTH_ZERO_SELF_SIGNED_CERT',
  'UNABLE_TO_GET_ISSUER_CERT',
  'UNABLE_TO_GET_ISSUER_CERT_LOCALLY',
  'CERT_UNTRUSTED',
  'CERT_SIGNATURE_FAILURE',
]);

export function errorCode(e: unknown): string | undefined {
  let cur: unknown = e;
  for (let i = 0; i < 5 && cur; i++) {
    const c = (cur as { code?: unknown }).code;
    if (typeof c === 'string' && c !== 'UND_ERR' && c.length > 0) return c;
    cur = (cur as { cause?: unknown }).cause;
  }
  return undefined;
}

function messageOf(e: unknown): string {
  let cur: unknown = e;
  const parts: string[] = [];
  for (let i = 0; i < 4 && cur; i++) {
    if (cur instanceof Error && cur.message) parts.push(cur.message);
    cur = (cur as { cause?: unknown }).cause;
  }
  return parts.join(': ');
}

/** Whether the server at the other end does not speak TLS (a plain-HTTP port). */
export function isNotTls(e: unknown): boolean {
  const code = errorCode(e);
  const msg = messageOf(e);
  return code === 'EPROTO' || code === 'ERR_SSL_WRONG_VERSION_NUMBER' || /wrong version number|packet length too long|unknown protocol|http request/i.test(msg);
}

/** The TLS handshake did not finish in time (see http-connection.ts): maybe a plain-HTTP server that never answers. */
export function isTlsHandshakeTimeout(e: unknown): boolean {
  return errorCode(e) === 'ERR_TLS_HANDSHAKE_TIMEOUT';
}

export function isConnectionRefused(e: unknown): boolean {
  return errorCode(e) === 'ECONNREFUSED';
}

/** Errors worth retrying: the connection failed or stalled, not the TLS handshake. */
export function isRetryableNetworkError(e: unknown): boolean {
  if (e instanceof OcictlError) return e.code === 'CONNECTION' || e.code === 'TIMEOUT';
  const code = errorCode(e);
  return code !== undefined && [
    'ECONNRESET', 'ECONNREFUSED', 'EPIPE', 'ETIMEDOUT', 'ENETUNREACH', 'EHOSTUNREACH', 'EAI_AGAIN',
    'UND_ERR_SOCKET', 'UND_ERR_CLOSED', 'UND_ERR_CONNECT_TIMEOUT', 'UND_ERR_HEADERS_TIMEOUT', 'UND_ERR_BODY_TIMEOUT',
    'UND_ERR_RES_CONTENT_LENGTH_MISMATCH', 'ERR_STREAM_PREMATURE_CLOSE', 'ERR_TLS_HANDSHAKE_TIMEOUT',
  ].includes(code);
}

/** An error of the connection or of HTTP itself (not a file system or programming error): worth a one-line network message. */
export function isTransportError(e: unknown): boolean {
  return !(e instanceof OcictlError) && (isRetryableNetworkError(e) || errorCode(e) === 'ERR_HTTP_PROTOCOL');
}

export interface NetworkContext {
  host: string;
  /** Hosts directory where a CA for this host would go. */
  hostsDir?: string;
  timeoutMs?: number;
}

export function networkError(e: unknown, ctx: NetworkContext): OcictlError {
  if (e instanceof OcictlError) return e;
  const code = errorCode(e);
  const h = ctx.host;
  const caPath = ctx.hostsDir ? `${ctx.hostsDir}/ca.crt` : `/etc/containerd/certs.d/${h}/ca.crt`;
  if (code && UNKNOWN_CA.has(code)) {
    return new OcictlError('TLS_UNKNOWN_CA', `x509: certificate signed by unknown authority (${h})`, {
      hint: `put the registry's CA certificate in ${caPath} (or pass --hosts-dir DIR), or pass --insecure-registry to skip verification`,
      cause: e,
    });
  }
  if (code === 'ERR_TLS_CERT_ALTNAME_INVALID') {
    return new OcictlError('TLS_ERROR', `x509: the certificate of ${h} is not valid for that name`, { hint: 'use the host name the certificate was issued for, or pass --insecure-registry', cause: e });
  }
  if (code === 'CERT_HAS_EXPIRED' || code === 'CERT_NOT_YET_VALID') {
    return new OcictlError('TLS_ERROR', `x509: the certificate of ${h} has expired or is not yet valid`, { hint: 'renew the registry certificate, or pass --insecure-registry', cause: e });
  }
  if (isNotTls(e)) {
    return new OcictlError('TLS_ERROR', `${h} does not speak TLS (a plain-HTTP registry?)`, { hint: 'pass --insecure-registry to use plain HTTP for it', cause: e });
  }
  if (code === 'ERR_TLS_HANDSHAKE_TIMEOUT') {
    return new OcictlError('TIMEOUT', `${h} did not finish a TLS handshake (${messageOf(e)})`, { hint: `if it serves plain HTTP, pass --insecure-registry to use plain HTTP for ${h}; else check the network and any proxy in between`, cause: e });
  }
  if (code === 'ECONNREFUSED') {
    return new OcictlError('CONNECTION', `cannot connect to ${h}: connection refused`, { hint: 'check that the registry is running and the host and port are right', cause: e });
  }
  if (code === 'ENOTFOUND' || code === 'EAI_AGAIN') {
    return new OcictlError('CONNECTION', `cannot resolve ${h.replace(/:\d+$/, '')}`, { hint: 'check the registry host name and DNS', cause: e });
  }
  if (code === 'UND_ERR_HEADERS_TIMEOUT' || code === 'UND_ERR_BODY_TIMEOUT' || code === 'UND_ERR_CONNECT_TIMEOUT' || code === 'ETIMEDOUT') {
    const secs = ctx.timeoutMs ? `${Math.round(ctx.timeoutMs / 1000)} s` : 'too long';
    return new OcictlError('TIMEOUT', `${h} sent nothing for ${secs}`, { hint: 'the registry or network is stalled; retry, or raise --timeout', cause: e });
  }
  if (code === 'ECONNRESET' || code === 'UND_ERR_SOCKET' || code === 'EPIPE' || code === 'UND_ERR_CLOSED' || code === 'ERR_STREAM_PREMATURE_CLOSE') {
    return new OcictlError('CONNECTION', `connection to ${h} was closed unexpectedly`, { hint: 'retry; if it persists, check the registry and any proxy in between', cause: e });
  }
  if (code === 'ERR_HTTP_PROTOCOL') {
    return new OcictlError('REGISTRY_ERROR', `${h} sent a malformed HTTP response: ${messageOf(e)}`, { hint: `check that ${h} is a registry, and any proxy or load balancer in between`, cause: e });
  }
  if (code === 'UND_ERR_RES_CONTENT_LENGTH_MISMATCH') {
    return new OcictlError('CONNECTION', `${h} sent a truncated response`, { hint: 'retry; a proxy may be cutting transfers', cause: e });
  }
  const msg = e instanceof Error ? e.message : String(e);
  return new OcictlError('CONNECTION', `request to ${h} failed: ${msg.split('\n')[0]?.slice(0, 200)}`, { cause: e });
}
