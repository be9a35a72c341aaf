/**
 * HTTP/1.1 response framing: ocictl's own client (transport/fast-http) against Node's `http`
 * client (llhttp), asked the same over a raw socket on 127.0.0.1. The rule: whatever llhttp
 * refuses, ocictl refuses — with a one-line error, and a pull commits no blob. Where both accept,
 * they read the same status and body. Where ocictl is stricter, the difference is named here and
 * in docs/compatibility.md.
 */
import assert from 'node:assert/strict';
import { promises as fs } from 'node:fs';
import * as http from 'node:http';
import * as net from 'node:net';
import * as path from 'node:path';
import { after, before, describe, it } from 'node:test';
import fc from 'fast-check';
import { buildImage, type BuiltImage } from '../fixtures/images.js';
import { tmpDir } from '../fixtures/proc.js';
import { fastRequest } from '../src/transport/fast-http.js';
import { assertOneLineError, ocictl } from './faults-lib.js';

type Outcome = { ok: true; status: number; body: string } | { ok: false; error: string };

/** A server that answers every connection's first request with `bytes` (one write), then closes. */
async function rawServer(answer: (requestHead: string) => Buffer): Promise<{ port: number; close: () => Promise<void> }> {
  const server = net.createServer((s) => {
    s.on('error', () => undefined);
    let got = '';
    s.on('data', (d: Buffer) => {
      if (got.includes('\r\n\r\n')) return;
      got += d.toString('latin1');
      if (!got.includes('\r\n\r\n')) return;
      s.write(answer(got));
      setTimeout(() => s.end(), 30);
    });
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  return {
    port: (server.address() as net.AddressInfo).port,
    close: () => new Promise<void>((r) => server.close(() => r())),
  };
}

/** Node's http client (llhttp, default options): its outcome once the connection has closed. */
function askNode(port: number, method = 'GET'): Promise<Outcome> {
  return new Promise((resolve) => {
    let status = 0;
    const parts: Buffer[] = [];
    let ended = false;
    let error: string | undefined;
    const req = http.request({ host: '127.0.0.1', port, path: '/v2/x', method, agent: false }, (res) => {
      status = res.statusCode ?? 0;
      res.on('data', (d: Buffer) => parts.push(d));
      res.on('end', () => (ended = true));
      res.on('error', (e: NodeJS.ErrnoException) => (error ??= e.code ?? e.message));
      res.on('aborted', () => (error ??= 'aborted'));
    });
    req.on('error', (e: NodeJS.ErrnoException) => (error ??= e.code ?? e.message));
    req.on('socket', (s) => s.on('close', () => setTimeout(() => resolve(error !== undefined || !ended ? { ok: false, error: error ?? 'incomplete' } : { ok: true, status, body: Buffer.concat(parts).toString('latin1') }), 5)));
    req.setTimeout(5000, () => req.destroy(new Error('timeout')));
    req.end();
  });
}

/** ocictl's client: status and whole body, or the error (which must be one line). */
async function askOcictl(port: number, method = 'GET'): Promise<Outcome> {
  try {
    const r = await fastRequest({ method, url: `http://127.0.0.1:${port}/v2/x`, headers: {}, tls: {}, timeoutMs: 5000 });
    const parts: Buffer[] = [];
    for await (const c of r.body) parts.push(c);
    return { ok: true, status: r.status, body: Buffer.concat(parts).toString('latin1') };
  } catch (e) {
    const msg = (e as Error).message;
    assert.ok(!msg.includes('\n'), `one-line error: ${JSON.stringify(msg)}`);
    return { ok: false, error: `${(e as { code?: string }).code ?? ''} ${msg}` };
  }
}

async function both(bytes: Buffer | string, method = 'GET'): Promise<{ node: Outcome; ours: Outcome }> {
  const srv = await rawServer(() => (Buffer.isBuffer(bytes) ? bytes : Buffer.from(bytes, 'latin1')));
  try {
    return { node: await askNode(srv.port, method), ours: await askOcictl(srv.port, method) };
  } finally {
    await srv.close();
  }
}

/** The rule every case and every generated framing holds. */
function holdsRule(name: string, node: Outcome, ours: Outcome): void {
  if (!node.ok) assert.equal(ours.ok, false, `${name}: llhttp refuses (${node.error}) but ocictl read ${JSON.stringify(ours).slice(0, 200)}`);
  else if (ours.ok) assert.deepEqual([ours.status, ours.body], [node.status, node.body], `${name}: both accept but read differently`);
}

const CRLF = '\r\n';
const ok = (head: string, body = 'hello'): string => `HTTP/1.1 200 OK${CRLF}${head}${CRLF}${body}`;
const chunked = (chunks: string): string => ok(`Transfer-Encoding: chunked${CRLF}`, chunks);

/** [name, response, what llhttp does, what ocictl does when it differs (deliberately stricter)] */
const CASES: Array<[string, string, 'refuses' | 'accepts', 'refuses'?]> = [
  ['plain Content-Length', ok(`Content-Length: 5${CRLF}`), 'accepts'],
  ['Content-Length and Transfer-Encoding', ok(`Content-Length: 5${CRLF}Transfer-Encoding: chunked${CRLF}`, `5${CRLF}hello${CRLF}0${CRLF}${CRLF}`), 'refuses'],
  ['Transfer-Encoding and Content-Length', ok(`Transfer-Encoding: chunked${CRLF}Content-Length: 5${CRLF}`, `5${CRLF}hello${CRLF}0${CRLF}${CRLF}`), 'refuses'],
  ['two different Content-Lengths', ok(`Content-Length: 5${CRLF}Content-Length: 6${CRLF}`, 'hello!'), 'refuses'],
  ['the same Content-Length twice', ok(`Content-Length: 5${CRLF}Content-Length: 5${CRLF}`), 'refuses'],
  ['Content-Length list', ok(`Content-Length: 5, 5${CRLF}`), 'refuses'],
  ['Content-Length in hex', ok(`Content-Length: 0x5${CRLF}`), 'refuses'],
  ['Content-Length with exponent', ok(`Content-Length: 5e0${CRLF}`), 'refuses'],
  ['Content-Length with sign', ok(`Content-Length: +5${CRLF}`), 'refuses'],
  ['empty Content-Length', ok(`Content-Length: ${CRLF}`), 'refuses'],
  ['Content-Length with tabs', ok(`Content-Length:\t5\t${CRLF}`), 'refuses'],
  ['Content-Length with spaces', ok(`Content-Length:  5  ${CRLF}`), 'accepts'],
  ['Content-Length with leading zeros', ok(`Content-Length: 005${CRLF}`), 'accepts'],
  ['Content-Length overflow', ok(`Content-Length: 99999999999999999999999${CRLF}`), 'refuses'],
  ['bad chunk size', chunked(`zz${CRLF}hello${CRLF}0${CRLF}${CRLF}`), 'refuses'],
  ['negative chunk size', chunked(`-5${CRLF}hello${CRLF}0${CRLF}${CRLF}`), 'refuses'],
  ['chunk size overflow', chunked(`ffffffffffffffffff${CRLF}hello${CRLF}0${CRLF}${CRLF}`), 'refuses'],
  ['chunk size then space', chunked(`5 ${CRLF}hello${CRLF}0${CRLF}${CRLF}`), 'refuses'],
  ['chunk size then tab and extension', chunked(`5\t;a=b${CRLF}hello${CRLF}0${CRLF}${CRLF}`), 'refuses'],
  ['chunk size with leading zeros', chunked(`0005${CRLF}hello${CRLF}0${CRLF}${CRLF}`), 'accepts'],
  ['chunk extension', chunked(`5;foo=bar${CRLF}hello${CRLF}0${CRLF}${CRLF}`), 'accepts'],
  ['chunk extensions, quoted and bare', chunked(`5;a="b r";c;d=${CRLF}hello${CRLF}0;x=y${CRLF}${CRLF}`), 'accepts'],
  ['chunk extension with escaped quote', chunked(`5;a="x\\"y"${CRLF}hello${CRLF}0${CRLF}${CRLF}`), 'accepts'],
  ['empty chunk extension', chunked(`5;${CRLF}hello${CRLF}0${CRLF}${CRLF}`), 'refuses'],
  ['chunk extension with space', chunked(`5; a=b${CRLF}hello${CRLF}0${CRLF}${CRLF}`), 'refuses'],
  ['chunk extension with a control character', chunked(`5;a=\x01${CRLF}hello${CRLF}0${CRLF}${CRLF}`), 'refuses'],
  ['chunk extension with a bad character', chunked(`5;a=(b)${CRLF}hello${CRLF}0${CRLF}${CRLF}`), 'refuses'],
  ['missing final chunk', chunked(`5${CRLF}hello${CRLF}`), 'refuses'],
  ['chunk data without CRLF', chunked(`5${CRLF}helloX0${CRLF}${CRLF}`), 'refuses'],
  ['bare LF after chunk size', chunked(`5\nhello${CRLF}0${CRLF}${CRLF}`), 'refuses'],
  ['bare LF after chunk data', chunked(`5${CRLF}hello\n0${CRLF}${CRLF}`), 'refuses'],
  ['trailer field', chunked(`5${CRLF}hello${CRLF}0${CRLF}X-T: 1${CRLF}${CRLF}`), 'accepts'],
  ['trailer with a bad name', chunked(`5${CRLF}hello${CRLF}0${CRLF}X T: 1${CRLF}${CRLF}`), 'refuses'],
  ['trailer with NUL', chunked(`5${CRLF}hello${CRLF}0${CRLF}X: \0${CRLF}${CRLF}`), 'refuses'],
  ['folded trailer', chunked(`5${CRLF}hello${CRLF}0${CRLF}X: 1${CRLF} 2${CRLF}${CRLF}`), 'refuses'],
  ['Transfer-Encoding gzip, chunked', ok(`Transfer-Encoding: gzip, chunked${CRLF}`, `5${CRLF}hello${CRLF}0${CRLF}${CRLF}`), 'accepts'],
  ['Transfer-Encoding CHUNKED twice', ok(`Transfer-Encoding: CHUNKED${CRLF}Transfer-Encoding: chunked${CRLF}`, `5${CRLF}hello${CRLF}0${CRLF}${CRLF}`), 'accepts'],
  ['Transfer-Encoding chunked, gzip', ok(`Transfer-Encoding: chunked, gzip${CRLF}`), 'accepts', 'refuses'],
  ['Transfer-Encoding xchunked', ok(`Transfer-Encoding: xchunked${CRLF}`), 'accepts', 'refuses'],
  ['empty Transfer-Encoding', ok(`Transfer-Encoding: ${CRLF}`), 'accepts', 'refuses'],
  ['Transfer-Encoding identity with Content-Length', ok(`Transfer-Encoding: identity${CRLF}Content-Length: 5${CRLF}`), 'refuses'],
  ['obs-fold header line', ok(`X-Foo: a${CRLF}  b${CRLF}Content-Length: 5${CRLF}`), 'refuses'],
  ['folded line first', ok(` b${CRLF}Content-Length: 5${CRLF}`), 'refuses'],
  ['white-space-only line', ok(`Content-Length: 5${CRLF} ${CRLF}`), 'refuses'],
  ['bare LF head', `HTTP/1.1 200 OK\nContent-Length: 5\n\nhello`, 'refuses'],
  ['bare LF after a header', `HTTP/1.1 200 OK${CRLF}Content-Length: 5\nX: y${CRLF}${CRLF}hello`, 'refuses'],
  ['bare LF ending the head', `HTTP/1.1 200 OK${CRLF}Content-Length: 5${CRLF}\nhello`, 'refuses'],
  ['bare CR in a value', ok(`X: a\rb${CRLF}Content-Length: 5${CRLF}`), 'refuses'],
  ['NUL in a header', ok(`X-Foo: a\0b${CRLF}Content-Length: 5${CRLF}`), 'refuses'],
  ['control character in a header', ok(`X-Foo: a\x01b${CRLF}Content-Length: 5${CRLF}`), 'refuses'],
  ['DEL in a header', ok(`X-Foo: a\x7fb${CRLF}Content-Length: 5${CRLF}`), 'refuses'],
  ['tabs and a high byte in values', ok(`X-Foo:\t\ta\tb\t${CRLF}X-Bar: caf\xe9${CRLF}Content-Length: 5${CRLF}`), 'accepts'],
  ['space before the colon', ok(`Content-Length : 5${CRLF}`), 'refuses'],
  ['header name not a token', ok(`X(y): 1${CRLF}Content-Length: 5${CRLF}`), 'refuses'],
  ['header line without colon', ok(`Xnocolon${CRLF}Content-Length: 5${CRLF}`), 'refuses'],
  ['empty header name', ok(`: v${CRLF}Content-Length: 5${CRLF}`), 'refuses'],
  ['header block over 16 KiB', ok(`X-Big: ${'a'.repeat(20_000)}${CRLF}Content-Length: 5${CRLF}`), 'refuses'],
  ['header block just under the limit', ok(`X-Big: ${'a'.repeat(16_000)}${CRLF}Content-Length: 5${CRLF}`), 'accepts'],
  ['header block at llhttp\'s edge', ok(`X-Big: ${'a'.repeat(16_360)}${CRLF}Content-Length: 5${CRLF}`), 'accepts', 'refuses'],
  ['100 Continue before the answer', `HTTP/1.1 100 Continue${CRLF}${CRLF}${ok(`Content-Length: 5${CRLF}`)}`, 'accepts'],
  ['103 Early Hints before the answer', `HTTP/1.1 103 Early Hints${CRLF}Link: </a>${CRLF}${CRLF}${ok(`Content-Length: 5${CRLF}`)}`, 'accepts'],
  ['a body on a 100', `HTTP/1.1 100 Continue${CRLF}Content-Length: 3${CRLF}${CRLF}abc${ok(`Content-Length: 5${CRLF}`)}`, 'refuses'],
  ['101 Switching Protocols unasked', `HTTP/1.1 101 Switching Protocols${CRLF}${CRLF}${ok(`Content-Length: 5${CRLF}`)}`, 'accepts', 'refuses'],
  ['a body on a 204', `HTTP/1.1 204 No Content${CRLF}Content-Length: 5${CRLF}${CRLF}hello`, 'refuses'],
  ['a chunked body on a 204', `HTTP/1.1 204 No Content${CRLF}Transfer-Encoding: chunked${CRLF}${CRLF}5${CRLF}hello${CRLF}0${CRLF}${CRLF}`, 'refuses'],
  ['a body on a 304', `HTTP/1.1 304 Not Modified${CRLF}Content-Length: 5${CRLF}${CRLF}hello`, 'refuses'],
  ['an empty 204', `HTTP/1.1 204 No Content${CRLF}${CRLF}`, 'accepts'],
  ['longer than its Content-Length', ok(`Content-Length: 2${CRLF}`), 'refuses'],
  ['a second, unasked response after the body', `${ok(`Content-Length: 5${CRLF}`)}HTTP/1.1 200 OK${CRLF}Content-Length: 0${CRLF}${CRLF}`, 'accepts', 'refuses'],
  ['bytes after the last chunk', chunked(`2${CRLF}he${CRLF}0${CRLF}${CRLF}llo`), 'refuses'],
  ['closed mid-body', ok(`Content-Length: 10${CRLF}`), 'refuses'],
  ['close-delimited body', ok(''), 'accepts'],
  ['HTTP/1.0 close-delimited', `HTTP/1.0 200 OK${CRLF}${CRLF}hello`, 'accepts'],
  ['HTTP/1.0 chunked', `HTTP/1.0 200 OK${CRLF}Transfer-Encoding: chunked${CRLF}${CRLF}5${CRLF}hello${CRLF}0${CRLF}${CRLF}`, 'accepts'],
  ['status without reason', `HTTP/1.1 200${CRLF}Content-Length: 5${CRLF}${CRLF}hello`, 'accepts'],
  ['reason with control characters', `HTTP/1.1 200 O\x01K${CRLF}Content-Length: 5${CRLF}${CRLF}hello`, 'accepts'],
  ['four-digit status', `HTTP/1.1 2000 OK${CRLF}Content-Length: 5${CRLF}${CRLF}hello`, 'refuses'],
  ['status below 100', `HTTP/1.1 099 OK${CRLF}Content-Length: 5${CRLF}${CRLF}hello`, 'accepts', 'refuses'],
  ['status 600', `HTTP/1.1 600 X${CRLF}Content-Length: 5${CRLF}${CRLF}hello`, 'accepts'],
  ['HTTP/2 status line', `HTTP/2 200${CRLF}Content-Length: 5${CRLF}${CRLF}hello`, 'refuses'],
  ['HTTP/1.2', `HTTP/1.2 200 OK${CRLF}Content-Length: 5${CRLF}${CRLF}hello`, 'refuses'],
  ['lower-case http', `http/1.1 200 OK${CRLF}Content-Length: 5${CRLF}${CRLF}hello`, 'refuses'],
  ['two spaces before the status', `HTTP/1.1  200 OK${CRLF}Content-Length: 5${CRLF}${CRLF}hello`, 'refuses'],
  ['empty line before the status line', `${CRLF}HTTP/1.1 200 OK${CRLF}Content-Length: 5${CRLF}${CRLF}hello`, 'accepts', 'refuses'],
];

describe('framing cases: ocictl and llhttp asked the same', { timeout: 120_000 }, () => {
  it('each case: llhttp as stated, and ocictl refuses whatever llhttp refuses', async () => {
    const stricter: string[] = [];
    for (const [name, bytes, llhttp, ocictlDiffers] of CASES) {
      const { node, ours } = await both(bytes);
      assert.equal(node.ok, llhttp === 'accepts', `${name}: llhttp ${llhttp}, got ${JSON.stringify(node)}`);
      holdsRule(name, node, ours);
      if (ocictlDiffers) {
        assert.equal(ours.ok, false, `${name}: ocictl is deliberately stricter here`);
        stricter.push(name);
      } else {
        assert.equal(ours.ok, node.ok, `${name}: ocictl ${ours.ok ? 'accepts' : 'refuses'} (${JSON.stringify(ours).slice(0, 160)})`);
      }
    }
    assert.ok(stricter.length > 0 && CASES.length >= 80);
  });

  it('HEAD: a body after a HEAD answer is refused, as by llhttp', async () => {
    for (const [bytes, llhttpOk] of [[`HTTP/1.1 200 OK${CRLF}Content-Length: 5${CRLF}${CRLF}`, true], [`HTTP/1.1 200 OK${CRLF}Content-Length: 5${CRLF}${CRLF}hello`, false]] as const) {
      const { node, ours } = await both(bytes, 'HEAD');
      assert.equal(node.ok, llhttpOk);
      holdsRule(`HEAD ${JSON.stringify(bytes)}`, node, ours);
      assert.equal(ours.ok, llhttpOk);
    }
  });
});

// ---- generated framings -------------------------------------------------------------------

const bodyArb = fc.string({ unit: fc.constantFrom(...'abcxyz0123\r\n;'.split('')), maxLength: 40 });
const headerArb = fc.constantFrom(
  'X-A: 1', 'X-B:\tv\t', 'X-C:', 'Server: registry/2.0', 'Docker-Distribution-Api-Version: registry/2.0', 'X-Hi: caf\xe9',
  ' folded', '\tfolded', 'Bad Name: x', 'X-N: a\0b', 'X-R: a\rb', 'NoColon', ': empty', 'X-D: a\x7f', 'Content-Type : x',
);
const eolArb = fc.constantFrom(CRLF, CRLF, CRLF, CRLF, CRLF, '\n');
const extArb = fc.constantFrom('', '', '', ';a=b', ';a', ';a=', ';a="q r"', '; a=b', ';', ' ', '\t', ';a=(b)');
const framingArb = fc.oneof(
  fc.record({ kind: fc.constant('length' as const), delta: fc.constantFrom(0, 0, 0, -1, 1, 5), twice: fc.constantFrom(false, false, true), spelled: fc.constantFrom('n', 'n', ' n ', '0n', '+n', '0xn', '\tn') }),
  fc.record({ kind: fc.constant('chunked' as const), splits: fc.array(fc.nat(40), { maxLength: 3 }), ext: extArb, lastExt: extArb, trailer: fc.constantFrom('', '', 'X-T: 1', 'X T: 1', 'X: \0', ' fold'), alsoLength: fc.constantFrom(false, false, false, true), te: fc.constantFrom('chunked', 'chunked', 'Chunked', 'gzip, chunked', 'chunked, gzip'), endEol: fc.constantFrom(CRLF, CRLF, CRLF, '\n'), final: fc.constantFrom(true, true, true, false) }),
  fc.record({ kind: fc.constant('close' as const) }),
);
const statusArb = fc.constantFrom('HTTP/1.1 200 OK', 'HTTP/1.1 200 OK', 'HTTP/1.0 200 OK', 'HTTP/1.1 200', 'HTTP/1.1 404 Not Found', 'HTTP/1.1 204 No Content', 'HTTP/1.1 304 Not Modified', 'HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 200 OK', 'HTTP/1.1 2000 OK', 'HTTP/1.1 200 OK ');

const responseArb = fc.record({
  status: statusArb,
  headers: fc.array(headerArb, { maxLength: 3 }),
  eol: eolArb,
  framing: framingArb,
  body: bodyArb,
  extra: fc.constantFrom('', '', '', '', 'X', `HTTP/1.1 200 OK${CRLF}${CRLF}`),
  cut: fc.constantFrom(1, 1, 1, 1, 0.5, 0.9),
});

type Generated = typeof responseArb extends fc.Arbitrary<infer T> ? T : never;

function render(g: Generated): string {
  const head: string[] = [g.status, ...g.headers];
  let body = '';
  const f = g.framing;
  if (f.kind === 'length') {
    const n = String(Math.max(0, g.body.length + f.delta));
    head.push(`Content-Length: ${f.spelled.replace('n', n)}`);
    if (f.twice) head.push(`Content-Length: ${n}`);
    body = g.body;
  } else if (f.kind === 'chunked') {
    head.push(`Transfer-Encoding: ${f.te}`);
    if (f.alsoLength) head.push(`Content-Length: ${g.body.length}`);
    const cuts = [...new Set(f.splits.map((s) => Math.min(s, g.body.length)))].sort((a, b) => a - b);
    let at = 0;
    for (const c of [...cuts, g.body.length]) {
      if (c <= at) continue;
      body += `${(c - at).toString(16)}${f.ext}${CRLF}${g.body.slice(at, c)}${CRLF}`;
      at = c;
    }
    if (f.final) body += `0${f.lastExt}${CRLF}${f.trailer ? `${f.trailer}${CRLF}` : ''}${f.endEol}`;
  } else {
    body = g.body;
  }
  const text = `${head.join(g.eol)}${g.eol}${g.eol}${body}${g.extra}`;
  return text.slice(0, Math.max(1, Math.floor(text.length * g.cut)));
}

describe('generated framings (fast-check)', { timeout: 300_000 }, () => {
  it('ocictl refuses every framing llhttp refuses; where both accept they read the same', async () => {
    await fc.assert(
      fc.asyncProperty(responseArb, async (g) => {
        const bytes = render(g);
        const { node, ours } = await both(bytes);
        holdsRule(JSON.stringify(bytes), node, ours);
      }),
      { numRuns: 300 },
    );
  });
});

// ---- a pull through a registry that answers the layer with a hostile framing -----------------

describe('pull: a hostile blob response commits nothing', { timeout: 240_000 }, () => {
  let work: string;
  let img: BuiltImage;
  let files: { manifest: Buffer; config: Buffer; layer: Buffer };
  before(async () => {
    work = await tmpDir('ocitest-compat-framing');
    img = await buildImage(path.join(work, 'layout'), 'v1', { layers: [{ size: 3000, seed: 77 }] });
    const blob = (d: string): Promise<Buffer> => fs.readFile(path.join(img.layoutDir, 'blobs', 'sha256', d.slice(7)));
    files = { manifest: await blob(img.manifestDigest), config: await blob(img.configDigest), layer: await blob(img.layers[0]!.digest) };
  });
  after(async () => {
    if (work) await fs.rm(work, { recursive: true, force: true });
  });

  /** Hostile answers carrying the layer's own bytes: a lenient parser would store a blob that verifies. */
  /** [name, the answer, ocictl deliberately stricter than llhttp] */
  const hostile: Array<[string, (b: Buffer) => Buffer, boolean?]> = [
    ['Content-Length and Transfer-Encoding', (b) => Buffer.concat([Buffer.from(`HTTP/1.1 200 OK${CRLF}Content-Length: ${b.length}${CRLF}Transfer-Encoding: chunked${CRLF}${CRLF}${b.length.toString(16)}${CRLF}`), b, Buffer.from(`${CRLF}0${CRLF}${CRLF}`)])],
    ['two Content-Lengths', (b) => Buffer.concat([Buffer.from(`HTTP/1.1 200 OK${CRLF}Content-Length: ${b.length}${CRLF}Content-Length: ${b.length + 1}${CRLF}${CRLF}`), b, Buffer.from('!')])],
    ['Content-Length in hex', (b) => Buffer.concat([Buffer.from(`HTTP/1.1 200 OK${CRLF}Content-Length: 0x${b.length.toString(16)}${CRLF}${CRLF}`), b])],
    ['bad chunk size', (b) => Buffer.concat([Buffer.from(`HTTP/1.1 200 OK${CRLF}Transfer-Encoding: chunked${CRLF}${CRLF}${b.length.toString(16)} x${CRLF}`), b, Buffer.from(`${CRLF}0${CRLF}${CRLF}`)])],
    ['missing final chunk', (b) => Buffer.concat([Buffer.from(`HTTP/1.1 200 OK${CRLF}Transfer-Encoding: chunked${CRLF}${CRLF}${b.length.toString(16)}${CRLF}`), b, Buffer.from(CRLF)])],
    ['bare LF after chunk data', (b) => Buffer.concat([Buffer.from(`HTTP/1.1 200 OK${CRLF}Transfer-Encoding: chunked${CRLF}${CRLF}${b.length.toString(16)}${CRLF}`), b, Buffer.from(`\n0${CRLF}${CRLF}`)])],
    ['obs-fold header', (b) => Buffer.concat([Buffer.from(`HTTP/1.1 200 OK${CRLF}X-A: 1${CRLF} 2${CRLF}Content-Length: ${b.length}${CRLF}${CRLF}`), b])],
    ['bare LF head', (b) => Buffer.concat([Buffer.from(`HTTP/1.1 200 OK\nContent-Length: ${b.length}\n\n`), b])],
    ['NUL in a header', (b) => Buffer.concat([Buffer.from(`HTTP/1.1 200 OK${CRLF}X-A: a\0b${CRLF}Content-Length: ${b.length}${CRLF}${CRLF}`), b])],
    ['header block over the limit', (b) => Buffer.concat([Buffer.from(`HTTP/1.1 200 OK${CRLF}X-Big: ${'a'.repeat(20_000)}${CRLF}Content-Length: ${b.length}${CRLF}${CRLF}`), b])],
    ['longer than its Content-Length', (b) => Buffer.concat([Buffer.from(`HTTP/1.1 200 OK${CRLF}Content-Length: ${b.length}${CRLF}${CRLF}`), b, Buffer.from('EXTRA')])],
    ['a second response after the body', (b) => Buffer.concat([Buffer.from(`HTTP/1.1 200 OK${CRLF}Content-Length: ${b.length}${CRLF}${CRLF}`), b, Buffer.from(`HTTP/1.1 200 OK${CRLF}Content-Length: 0${CRLF}${CRLF}`)]), true],
    ['closed mid-body', (b) => Buffer.concat([Buffer.from(`HTTP/1.1 200 OK${CRLF}Content-Length: ${b.length}${CRLF}${CRLF}`), b.subarray(0, b.length >> 1)])],
    // controls: llhttp accepts these, and so does the pull
    ['chunk extensions (control)', (b) => Buffer.concat([Buffer.from(`HTTP/1.1 200 OK${CRLF}Transfer-Encoding: chunked${CRLF}${CRLF}${b.length.toString(16)};sig="x y"${CRLF}`), b, Buffer.from(`${CRLF}0${CRLF}${CRLF}`)])],
    ['100 Continue before the answer (control)', (b) => Buffer.concat([Buffer.from(`HTTP/1.1 100 Continue${CRLF}${CRLF}HTTP/1.1 200 OK${CRLF}Content-Length: ${b.length}${CRLF}${CRLF}`), b])],
  ];

  it('llhttp decides; ocictl refuses in one line and the layer is not in the store', async () => {
    let n = 0;
    for (const [name, make, stricter] of hostile) {
      const layerHex = img.layers[0]!.digest.slice(7);
      const srv = await rawServer((req) => {
        const m = /^(GET|HEAD) (\S+)/.exec(req);
        const p = m?.[2] ?? '';
        const plain = (type: string, body: Buffer, extra = ''): Buffer => Buffer.concat([Buffer.from(`HTTP/1.1 200 OK${CRLF}Content-Type: ${type}${CRLF}Content-Length: ${body.length}${CRLF}Connection: close${CRLF}${extra}${CRLF}`), m?.[1] === 'HEAD' ? Buffer.alloc(0) : body]);
        if (p === '/v2/') return plain('application/json', Buffer.from('{}'));
        if (p.endsWith('/manifests/1')) return plain(img.manifestMediaType, files.manifest, `Docker-Content-Digest: ${img.manifestDigest}${CRLF}`);
        if (p.endsWith(img.configDigest)) return plain('application/octet-stream', files.config);
        if (p.endsWith(img.layers[0]!.digest)) return make(files.layer);
        return Buffer.from(`HTTP/1.1 404 Not Found${CRLF}Content-Length: 0${CRLF}Connection: close${CRLF}${CRLF}`);
      });
      try {
        const host = `127.0.0.1:${srv.port}`;
        const certs = path.join(work, `certs${++n}`);
        await fs.mkdir(path.join(certs, host), { recursive: true });
        await fs.writeFile(path.join(certs, host, 'hosts.toml'), `server = "http://${host}"\n`);
        // what llhttp makes of the same layer response
        const layerOnly = await rawServer(() => make(files.layer));
        const node = await askNode(layerOnly.port).finally(() => layerOnly.close());
        const e = { dockerConfig: path.join(work, `docker${n}`), dataRoot: path.join(work, `data${n}`) };
        const r = await ocictl(['--hosts-dir', certs, '--retries', '0', '--timeout', '5', 'pull', '-q', `${host}/compat/img:1`], e, { timeoutMs: 60_000 });
        const stored = await fs.access(path.join(e.dataRoot, 'default', 'blobs', 'sha256', layerHex)).then(() => true, () => false);
        if (stricter) assert.ok(node.ok, `${name}: llhttp accepts this one`);
        if (node.ok && !stricter) {
          assert.equal(r.code, 0, `${name}: llhttp accepts, the pull should too: ${r.stderr}`);
          assert.ok(stored, `${name}: the layer is stored`);
        } else {
          assertOneLineError(r, name);
          assert.ok(!stored, `${name}: ${node.ok ? 'ocictl is stricter' : `llhttp refuses (${node.error})`} and the layer must not be committed`);
        }
      } finally {
        await srv.close();
      }
    }
  });
});
