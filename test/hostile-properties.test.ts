// Property-based tests (fast-check) for the two parsers that see untrusted text first:
// the image reference parser and the WWW-Authenticate challenge parser.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import fc from 'fast-check';
import { parseChallenges } from '../src/auth/challenge.js';
import { OcictlError } from '../src/errors.js';
import { parseReference } from '../src/reference/reference.js';

const lower = fc.constantFrom(...'abcdefghijklmnopqrstuvwxyz0123456789'.split(''));
const alnum = fc.string({ unit: lower, minLength: 1, maxLength: 8 });
const sep = fc.constantFrom('.', '_', '__', '-', '--');
/** A repository path component as the distribution grammar allows. */
const component = fc.tuple(alnum, fc.array(fc.tuple(sep, alnum), { maxLength: 2 })).map(([a, rest]) => a + rest.map(([s, b]) => s + b).join(''));
const label = fc.string({ unit: fc.constantFrom(...'abcdefghijklmnopqrstuvwxyz0123456789'.split('')), minLength: 1, maxLength: 10 });
const registry = fc.oneof(
  fc.tuple(fc.array(label, { minLength: 2, maxLength: 3 }), fc.option(fc.integer({ min: 1, max: 65535 }), { nil: undefined })).map(([ls, p]) => `${ls.join('.')}${p ? `:${p}` : ''}`),
  fc.integer({ min: 1, max: 65535 }).map((p) => `127.0.0.1:${p}`),
  fc.integer({ min: 1, max: 65535 }).map((p) => `localhost:${p}`),
);
const tag = fc.tuple(
  fc.constantFrom(...'abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_'.split('')),
  fc.string({ unit: fc.constantFrom(...'abcXYZ019_.-'.split('')), maxLength: 20 }),
).map(([a, b]) => a + b);
const digest = fc.string({ unit: fc.constantFrom(...'0123456789abcdef'.split('')), minLength: 64, maxLength: 64 }).map((h) => `sha256:${h}`);

function throwsOnlyOcictlErrors(f: () => unknown): void {
  try {
    f();
  } catch (e) {
    assert.ok(e instanceof OcictlError, `threw a non-OcictlError: ${String(e)}`);
    assert.ok(!e.message.includes('\n'), 'error message is one line');
    assert.ok(e.message.length < 2000, 'error message is bounded');
  }
}

describe('parseReference properties', () => {
  it('any string: returns a reference or throws one OcictlError line, never anything else', () => {
    fc.assert(
      fc.property(fc.oneof(fc.string({ maxLength: 300 }), fc.string({ unit: 'binary', maxLength: 100 }), fc.string({ unit: fc.constantFrom(...'a:/@.-_A0\\ %'.split('')), maxLength: 80 })), (s) => {
        throwsOnlyOcictlErrors(() => parseReference(s));
      }),
      { numRuns: 3000 },
    );
  });

  it('valid references parse to their parts and round-trip through toString', () => {
    fc.assert(
      fc.property(registry, fc.array(component, { minLength: 1, maxLength: 4 }), fc.option(tag, { nil: undefined }), fc.option(digest, { nil: undefined }), (reg, comps, t, d) => {
        const repo = comps.join('/');
        fc.pre(`${reg}/${repo}`.length <= 255);
        const text = `${reg}/${repo}${t ? `:${t}` : ''}${d ? `@${d}` : ''}`;
        const r = parseReference(text);
        assert.equal(r.registry, reg);
        assert.equal(r.repository, repo);
        if (t) assert.equal(r.tag, t);
        if (d) assert.equal(r.digest, d);
        const again = parseReference(r.toString());
        assert.equal(again.toString(), r.toString());
      }),
      { numRuns: 2000 },
    );
  });

  it('mutating one character of a valid reference never crashes the parser', () => {
    fc.assert(
      fc.property(registry, component, tag, fc.nat(), fc.string({ minLength: 1, maxLength: 1 }), (reg, comp, t, pos, ch) => {
        const text = `${reg}/${comp}:${t}`;
        const i = pos % text.length;
        throwsOnlyOcictlErrors(() => parseReference(text.slice(0, i) + ch + text.slice(i + 1)));
      }),
      { numRuns: 2000 },
    );
  });

  it('long hostile input is rejected quickly', () => {
    const inputs = ['a'.repeat(100_000), `${'a/'.repeat(50_000)}b`, `${'a.'.repeat(50_000)}a/b`, `x/${'a-'.repeat(50_000)}`, `x/y:${'t'.repeat(100_000)}`, `x/y@sha256:${'0'.repeat(100_000)}`];
    for (const s of inputs) {
      const t0 = performance.now();
      throwsOnlyOcictlErrors(() => parseReference(s));
      // A guard against catastrophic backtracking (which takes minutes on 100 KB), not a speed goal:
      // the bound is loose so that a loaded CI machine does not fail it.
      assert.ok(performance.now() - t0 < 3000, `parsing ${s.slice(0, 20)}… took too long`);
    }
  });
});

const token = fc.string({ unit: fc.constantFrom(...'abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789!#$%&\'*+-.^_`|~'.split('')), minLength: 1, maxLength: 12 });
const quotedValue = fc.string({ maxLength: 40 }).filter((s) => !/[\r\n]/.test(s));
const quote = (v: string): string => `"${v.replace(/(["\\])/g, '\\$1')}"`;

describe('parseChallenges properties', () => {
  it('never throws, always returns well-formed challenges', () => {
    fc.assert(
      fc.property(fc.oneof(fc.string({ maxLength: 400 }), fc.string({ unit: fc.constantFrom(...'Bearer realm=",\\ \t'.split('')), maxLength: 200 }), fc.array(fc.string({ maxLength: 50 }), { maxLength: 4 })), (h) => {
        const out = parseChallenges(h);
        assert.ok(Array.isArray(out));
        for (const c of out) {
          assert.equal(typeof c.scheme, 'string');
          assert.ok(c.scheme.length > 0);
          assert.equal(c.scheme, c.scheme.toLowerCase());
          assert.equal(typeof c.params, 'object');
          for (const [k, v] of Object.entries(c.params)) {
            assert.equal(k, k.toLowerCase());
            assert.equal(typeof v, 'string');
          }
        }
      }),
      { numRuns: 5000 },
    );
  });

  it('generated challenges parse back to their scheme and parameters', () => {
    const params = fc.uniqueArray(fc.tuple(token, quotedValue), { minLength: 1, maxLength: 5, selector: ([k]) => k.toLowerCase() });
    const challenge = fc.tuple(token, params);
    fc.assert(
      fc.property(fc.array(challenge, { minLength: 1, maxLength: 3 }), fc.constantFrom(', ', ',', ' , '), (cs, glue) => {
        const header = cs.map(([scheme, ps]) => `${scheme} ${ps.map(([k, v]) => `${k}=${quote(v)}`).join(glue)}`).join(glue);
        const out = parseChallenges(header);
        assert.equal(out.length, cs.length, header);
        cs.forEach(([scheme, ps], i) => {
          assert.equal(out[i]?.scheme, scheme.toLowerCase());
          assert.deepEqual(out[i]?.params, Object.fromEntries(ps.map(([k, v]) => [k.toLowerCase(), v])), header);
        });
      }),
      { numRuns: 3000 },
    );
  });

  it('several header values are the same as one joined with commas', () => {
    fc.assert(
      fc.property(fc.array(fc.tuple(token, token, quotedValue), { minLength: 1, maxLength: 4 }), (cs) => {
        const values = cs.map(([s, k, v]) => `${s} ${k}=${quote(v)}`);
        assert.deepEqual(parseChallenges(values), parseChallenges(values.join(', ')));
      }),
      { numRuns: 2000 },
    );
  });

  it('a 16 KiB hostile header is parsed quickly', () => {
    const inputs = ['Bearer '.repeat(3000), `Bearer realm="${'\\"'.repeat(8000)}`, 'a=b,'.repeat(5000), `Bearer ${'k=v '.repeat(5000)}`, '='.repeat(16_000), ','.repeat(16_000)];
    for (const s of inputs) {
      const t0 = performance.now();
      parseChallenges(s);
      // Guards against catastrophic backtracking, not a speed goal: loose enough for a loaded machine.
      assert.ok(performance.now() - t0 < 3000, `parsing ${s.slice(0, 20)}… took ${performance.now() - t0} ms`);
    }
  });
});
