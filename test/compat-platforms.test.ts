/**
 * Platform strings and matching agree with containerd's `platforms` package (Parse, Normalize,
 * Format, Only): the facts below are what containerd answers for each input.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { OcictlError } from '../src/errors.js';
import type { Platform } from '../src/oci/descriptor.js';
import { bestMatch, formatPlatform, hostPlatform, normalizePlatform, parsePlatform, platformMatcher } from '../src/oci/platform.js';
import { selectChildren } from '../src/image/select.js';

const host = hostPlatform();

test('parse: aliases, arm defaults and the arm64 v8/v9 forms', () => {
  // input → [os, architecture, variant] as containerd's Parse returns it
  const cases: Array<[string, string, string, string]> = [
    ['linux/amd64', 'linux', 'amd64', ''],
    ['Linux/x86_64', 'linux', 'amd64', ''],
    ['linux/x86-64', 'linux', 'amd64', ''],
    ['linux/aarch64', 'linux', 'arm64', ''],
    ['linux/arm64', 'linux', 'arm64', ''],
    ['linux/arm64/v8', 'linux', 'arm64', 'v8'],
    ['linux/arm64/8', 'linux', 'arm64', 'v8'],
    ['linux/arm64/v8.0', 'linux', 'arm64', 'v8'],
    ['linux/arm64/v9.0', 'linux', 'arm64', 'v9'],
    ['linux/arm64/9', 'linux', 'arm64', 'v9'],
    ['linux/arm64/v8.2', 'linux', 'arm64', 'v8.2'],
    ['linux/arm', 'linux', 'arm', ''],
    ['linux/armhf', 'linux', 'arm', ''],
    ['linux/armel', 'linux', 'arm', 'v6'],
    ['linux/arm/7', 'linux', 'arm', 'v7'],
    ['linux/arm/v6', 'linux', 'arm', 'v6'],
    ['linux/arm/5', 'linux', 'arm', 'v5'],
    ['linux/i386', 'linux', '386', ''],
    ['linux/amd64/v1', 'linux', 'amd64', ''],
    ['linux/amd64/v3', 'linux', 'amd64', 'v3'],
    ['macOS/arm64', 'darwin', 'arm64', ''],
    ['darwin/amd64', 'darwin', 'amd64', ''],
    ['linux/s390x', 'linux', 's390x', ''],
    ['freebsd/riscv64', 'freebsd', 'riscv64', ''],
    // a lone architecture takes the host's OS; a lone OS the host's architecture
    ['armel', host.os, 'arm', 'v6'],
    ['armhf', host.os, 'arm', ''],
    ['Aarch64', host.os, 'arm64', ''],
    ['x86_64', host.os, 'amd64', ''],
    ['i386', host.os, '386', ''],
    ['s390x', host.os, 's390x', ''],
  ];
  for (const [input, os, architecture, variant] of cases) {
    const p = parsePlatform(input);
    assert.deepEqual([p.os, p.architecture, p.variant ?? ''], [os, architecture, variant], input);
  }
  const lone = parsePlatform('linux');
  assert.equal(lone.os, 'linux');
  assert.equal(lone.architecture, host.architecture);
  assert.equal(parsePlatform('macOS').os, 'darwin');
});

test('parse: os(version+features) and its escapes, and formatting back', () => {
  const w = parsePlatform('windows(10.0.17763)/amd64');
  assert.deepEqual(w, { os: 'windows', architecture: 'amd64', 'os.version': '10.0.17763' });
  assert.equal(formatPlatform(w), 'windows(10.0.17763)/amd64');
  assert.deepEqual(parsePlatform('windows(10.0.17763+win32k)/amd64')['os.features'], ['win32k']);
  assert.equal(parsePlatform('windows()/amd64')['os.version'], undefined);
  assert.deepEqual(parsePlatform('linux(+gpu+simd)/amd64')['os.features'], ['gpu', 'simd']);
  assert.equal(formatPlatform(parsePlatform('linux(+unsorted+erofs)/amd64')), 'linux(+erofs+unsorted)/amd64', 'features print sorted');
  assert.equal(parsePlatform('windows(10.0.17763%2Bbuild.42)/amd64')['os.version'], '10.0.17763+build.42');
  assert.equal(parsePlatform('windows(50%25done)/amd64')['os.version'], '50%done');
  // formatting escapes the characters that delimit the syntax
  const round: Platform[] = [
    { os: 'windows', architecture: 'amd64', 'os.version': '10.0.17763+build.42' },
    { os: 'windows', architecture: 'amd64', 'os.version': '1.0(beta)' },
    { os: 'windows', architecture: 'amd64', 'os.version': 'a/b' },
    { os: 'linux', architecture: 'amd64', 'os.features': ['feat+v2'] },
    { os: 'linux', architecture: 'amd64', 'os.features': ['100%gpu'] },
    { os: 'windows', architecture: 'amd64', 'os.version': '10.0+build', 'os.features': ['feat+1'] },
  ];
  assert.equal(formatPlatform(round[1]), 'windows(1.0%28beta%29)/amd64');
  assert.equal(formatPlatform(round[2]), 'windows(a%2Fb)/amd64');
  assert.equal(formatPlatform(round[5]), 'windows(10.0%2Bbuild+feat%2B1)/amd64');
  for (const p of round) assert.deepEqual(parsePlatform(formatPlatform(p)), p, formatPlatform(p));
  assert.equal(formatPlatform({ os: 'linux', architecture: 'arm64', variant: 'v8' }), 'linux/arm64/v8');
  assert.equal(formatPlatform(undefined), '');
});

test('parse: refused inputs are one-line INVALID_ARGUMENT errors', () => {
  for (const bad of ['', '/linux/arm', 'linux/arm/', 'linux /arm', 'linux/arm/v7/extra', 'linux//arm', 'linux/*', '*', 'nosuchthing', 'linux(10.0', 'linux(a)b/amd64', 'windows(%zz)/amd64', 'linux/am d64']) {
    assert.throws(() => parsePlatform(bad), (e: unknown) => e instanceof OcictlError && e.code === 'INVALID_ARGUMENT' && !e.message.includes('\n'), JSON.stringify(bad));
  }
});

test('normalise: the forms containerd compares', () => {
  assert.deepEqual(normalizePlatform({ os: 'Linux', architecture: 'aarch64', variant: 'v8' }), { os: 'linux', architecture: 'arm64' });
  assert.deepEqual(normalizePlatform({ os: 'linux', architecture: 'arm' }), { os: 'linux', architecture: 'arm', variant: 'v7' });
  assert.deepEqual(normalizePlatform({ os: 'linux', architecture: 'armhf' }), { os: 'linux', architecture: 'arm', variant: 'v7' });
  assert.deepEqual(normalizePlatform({ os: 'linux', architecture: 'arm64', variant: 'v9.0' }), { os: 'linux', architecture: 'arm64', variant: 'v9' });
  assert.deepEqual(normalizePlatform({ os: 'linux', architecture: 'amd64', 'os.features': ['b', 'a', 'b'] }), { os: 'linux', architecture: 'amd64', 'os.features': ['a', 'b'] });
});

const P = (s: string): Platform => {
  const [os, architecture, variant] = s.split('/') as [string, string, string?];
  return { os, architecture, ...(variant ? { variant } : {}) };
};

test('match: what each host platform runs (containerd Only)', () => {
  // host → candidates it runs; candidates it does not
  const table: Array<[string, string[], string[]]> = [
    ['linux/amd64', ['linux/amd64', 'linux/x86_64', 'linux/amd64/v1', 'linux/386', 'linux/i386'], ['linux/amd64/v2', 'linux/arm64', 'windows/amd64', 'linux/arm']],
    ['linux/amd64/v3', ['linux/amd64/v3', 'linux/amd64/v2', 'linux/amd64', 'linux/386'], ['linux/amd64/v4']],
    ['linux/arm64', ['linux/arm64', 'linux/arm64/v8', 'linux/aarch64', 'linux/arm/v8', 'linux/arm/v7', 'linux/arm', 'linux/arm/v6', 'linux/arm/v5'], ['linux/arm64/v8.1', 'linux/arm64/v9', 'linux/amd64']],
    ['linux/arm64/v8', ['linux/arm64', 'linux/aarch64/v8'], ['linux/arm64/v9']],
    ['linux/arm64/v8.2', ['linux/arm64/v8.2', 'linux/arm64/v8.1', 'linux/arm64', 'linux/arm/v7'], ['linux/arm64/v8.3', 'linux/arm64/v9']],
    ['linux/arm64/v9', ['linux/arm64/v9', 'linux/arm64/v9.0', 'linux/arm64/v8.5', 'linux/arm64/v8.1', 'linux/arm64', 'linux/arm/v7'], ['linux/arm64/v8.6', 'linux/arm64/v9.1']],
    ['linux/arm64/v9.2', ['linux/arm64/v9.2', 'linux/arm64/v9.1', 'linux/arm64/v8.7', 'linux/arm64'], ['linux/arm64/v9.3', 'linux/arm64/v8.8']],
    ['linux/arm', ['linux/arm', 'linux/arm/v7', 'linux/armhf', 'linux/arm/v6', 'linux/armel', 'linux/arm/v5'], ['linux/arm/v8', 'linux/arm64']],
    ['linux/arm/v7', ['linux/arm/v7', 'linux/arm/v6', 'linux/arm/v5'], ['linux/arm/v8', 'linux/arm64']],
    ['linux/arm/v6', ['linux/arm/v6', 'linux/armel', 'linux/arm/v5'], ['linux/arm/v7', 'linux/arm', 'linux/armhf', 'linux/arm64']],
    ['linux/arm/v5', ['linux/arm/v5'], ['linux/arm/v6', 'linux/arm']],
    ['linux/386', ['linux/386'], ['linux/amd64']],
    ['linux/s390x', ['linux/s390x'], ['linux/amd64', 'linux/s390']],
    ['darwin/arm64', ['macos/arm64', 'darwin/aarch64'], ['linux/arm64']],
  ];
  for (const [want, yes, no] of table) {
    const m = platformMatcher(want);
    for (const c of yes) assert.ok(m.match(P(c)), `${want} runs ${c}`);
    for (const c of no) assert.ok(!m.match(P(c)), `${want} does not run ${c}`);
  }
  assert.equal(platformMatcher('linux/amd64').match(undefined), false);
});

test('match: OS features and Windows versions', () => {
  const gpu = platformMatcher('linux(+gpu)/amd64');
  assert.ok(gpu.match({ os: 'linux', architecture: 'amd64' }));
  assert.ok(gpu.match({ os: 'linux', architecture: 'amd64', 'os.features': ['gpu'] }));
  assert.ok(!platformMatcher('linux/amd64').match({ os: 'linux', architecture: 'amd64', 'os.features': ['gpu'] }), 'a feature the host lacks');
  // Windows: win32k is ignored; process isolation needs the same build before LTSC 2022,
  // and from LTSC 2022 on any build from the last LTSC up to the host's
  const w = platformMatcher('windows(10.0.17763)/amd64');
  assert.ok(w.match({ os: 'windows', architecture: 'amd64', 'os.version': '10.0.17763.1879' }));
  assert.ok(w.match({ os: 'windows', architecture: 'amd64', 'os.features': ['win32k'] }));
  assert.ok(w.match({ os: 'windows', architecture: 'amd64' }), 'an image without os.version');
  assert.ok(!w.match({ os: 'windows', architecture: 'amd64', 'os.version': '10.0.20348.1' }));
  const ltsc2022 = platformMatcher('windows(10.0.20348)/amd64');
  assert.ok(!ltsc2022.match({ os: 'windows', architecture: 'amd64', 'os.version': '10.0.17763.1' }));
  const win11 = platformMatcher('windows(10.0.22621)/amd64');
  assert.ok(win11.match({ os: 'windows', architecture: 'amd64', 'os.version': '10.0.20348.5' }));
  assert.ok(win11.match({ os: 'windows', architecture: 'amd64', 'os.version': '10.0.22621.1' }));
  assert.ok(!win11.match({ os: 'windows', architecture: 'amd64', 'os.version': '10.0.26100.1' }));
  const ltsc2025 = platformMatcher('windows(10.0.26100)/amd64');
  assert.ok(ltsc2025.match({ os: 'windows', architecture: 'amd64', 'os.version': '10.0.20348.1' }));
  const after2025 = platformMatcher('windows(10.0.26200)/amd64');
  assert.ok(!after2025.match({ os: 'windows', architecture: 'amd64', 'os.version': '10.0.20348.1' }));
  assert.ok(after2025.match({ os: 'windows', architecture: 'amd64', 'os.version': '10.0.26100.1' }));
});

test('selection: the best child of an index, as containerd sorts them', () => {
  const d = (platform: string, i: number) => ({ mediaType: 'application/vnd.oci.image.manifest.v1+json', digest: `sha256:${String(i).repeat(64).slice(0, 64)}`, size: 1, platform: P(platform) });
  const index = [d('linux/arm/v5', 1), d('linux/arm/v6', 2), d('linux/arm/v7', 3), d('linux/arm64', 4), d('linux/386', 5), d('linux/amd64', 6)];
  const pick = (want: string) => formatPlatform(bestMatch(want, index, (x) => x.platform)?.platform);
  assert.equal(pick('linux/arm/v6'), 'linux/arm/v6');
  assert.equal(pick('linux/arm'), 'linux/arm/v7');
  assert.equal(pick('linux/arm64/v8'), 'linux/arm64');
  assert.equal(pick('linux/amd64'), 'linux/amd64');
  assert.equal(formatPlatform(bestMatch('linux/arm/v6', [index[0], index[2]], (x) => x!.platform)?.platform), 'linux/arm/v5', 'v6 host falls back to v5, never v7');
  assert.equal(formatPlatform(bestMatch('linux/amd64', [index[4]], (x) => x!.platform)?.platform), 'linux/386');
  assert.equal(formatPlatform(bestMatch('linux/arm64', [index[0], index[2]], (x) => x!.platform)?.platform), 'linux/arm/v7');
  assert.equal(bestMatch('linux/arm/v6', [index[2], index[3]], (x) => x!.platform), undefined);
  // through the puller's selection, with the error naming what the index has
  assert.equal(formatPlatform(selectChildren(index, { platforms: ['linux/armel'] }, 'x')[0]?.platform), 'linux/arm/v6');
  assert.throws(() => selectChildren([index[2]!], { platforms: ['linux/arm/v6'] }, 'x'), /no image for platform linux\/arm\/v6 \(it has: linux\/arm\/v7\)/);
});

test('the compatibility helpers are exported from the library entry', async () => {
  const api = await import('../src/index.js');
  for (const name of ['parsePlatform', 'formatPlatform', 'platformMatcher', 'normalizePlatform', 'loadHostsDir', 'hostsFor', 'familiarName', 'parseAnyReference'] as const) {
    assert.equal(typeof api[name], 'function', name);
  }
  assert.equal(api.formatPlatform(api.parsePlatform('linux/aarch64/v8')), 'linux/arm64/v8');
  assert.ok(api.platformMatcher('linux/arm64').match({ os: 'linux', architecture: 'arm', variant: 'v7' }));
  assert.equal(api.familiarName('docker.io/library/busybox:1'), 'busybox');
});
