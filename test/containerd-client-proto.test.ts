// ocictl's hand-written containerd API definitions (src/containerd/proto.ts)
// checked against containerd's own .proto files, as Debian's
// golang-github-containerd-containerd-dev installs them: every message, field
// (name, number, type, repeated / map), enum value and RPC (request and
// response types, streaming) must be containerd's.
import { strict as assert } from 'node:assert';
import { existsSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { test } from 'node:test';
import protobuf from 'protobufjs';
import { API, CRI_PACKAGES, buildRoot, codec, type PackageSpec } from '../src/containerd/proto.js';

const GOCODE = '/usr/share/gocode/src';
const CTD_API = `${GOCODE}/github.com/containerd/containerd/api`;
/** Where the imports of containerd's .proto files live (Debian's Go source packages). */
const INCLUDE = [GOCODE, `${GOCODE}/github.com/gogo/protobuf/protobuf`, `${GOCODE}/github.com/gogo/googleapis`, `${GOCODE}/github.com/gogo/protobuf`];
const FILES = [
  'services/version/v1/version.proto',
  'services/introspection/v1/introspection.proto',
  'services/namespaces/v1/namespace.proto',
  'services/content/v1/content.proto',
  'services/images/v1/images.proto',
  'services/leases/v1/leases.proto',
  'services/snapshots/v1/snapshots.proto',
  'services/diff/v1/diff.proto',
].map((f) => `${CTD_API}/${f}`);

function resolveImport(name: string): string {
  for (const dir of INCLUDE) {
    const p = path.join(dir, name);
    if (existsSync(p)) return p;
  }
  throw new Error(`import ${name} not found under ${INCLUDE.join(', ')}`);
}

/** containerd's API, parsed from its .proto files with protobufjs' parser (weak gogoproto imports skipped: options only). */
function containerdRoot(): protobuf.Root {
  const root = new protobuf.Root();
  const seen = new Set<string>();
  const load = (file: string) => {
    if (seen.has(file)) return;
    seen.add(file);
    const parsed = protobuf.parse(readFileSync(file, 'utf8'), root, { keepCase: false });
    for (const imp of parsed.imports ?? []) load(resolveImport(imp));
  };
  for (const f of FILES) load(f);
  root.resolveAll();
  return root;
}

function typeName(f: protobuf.Field): string {
  return f.resolvedType ? f.resolvedType.fullName : f.type;
}

function describeField(f: protobuf.Field): string {
  const map = f instanceof protobuf.MapField ? `map<${f.keyType},${typeName(f)}>` : undefined;
  return `${map ?? `${f.repeated ? 'repeated ' : ''}${typeName(f)}`} ${f.name} = ${f.id}`;
}

function* walk(ns: protobuf.NamespaceBase): Generator<protobuf.ReflectionObject> {
  for (const o of ns.nestedArray) {
    yield o;
    if (o instanceof protobuf.Namespace || o instanceof protobuf.Type) yield* walk(o);
  }
}

/** Every difference between our definitions and containerd's, one line each. */
function compare(ours: protobuf.Root, theirs: protobuf.Root): { problems: string[]; checked: { messages: number; fields: number; enums: number; rpcs: number } } {
  const problems: string[] = [];
  const checked = { messages: 0, fields: 0, enums: 0, rpcs: 0 };
  for (const o of walk(ours)) {
    const name = o.fullName;
    // Kubernetes' CRI messages are not in containerd's .proto files: test/containerd-client checks them on the wire.
    if (CRI_PACKAGES.some((p) => name.startsWith(`.${p}.`))) continue;
    if (o instanceof protobuf.Type) {
      checked.messages++;
      const t = theirs.lookup(name);
      if (!(t instanceof protobuf.Type)) {
        problems.push(`message ${name}: containerd has no such message`);
        continue;
      }
      for (const f of o.fieldsArray) {
        checked.fields++;
        const byName = t.fields[f.name];
        const byId = t.fieldsById[f.id];
        if (!byName) {
          problems.push(`${name}: field ${describeField(f)}: containerd has no field named ${f.name}${byId ? ` (its field ${f.id} is ${describeField(byId)})` : ''}`);
          continue;
        }
        if (describeField(byName) !== describeField(f)) problems.push(`${name}: field ${describeField(f)} is ${describeField(byName)} in containerd`);
      }
    } else if (o instanceof protobuf.Enum) {
      checked.enums++;
      const e = theirs.lookup(name);
      if (!(e instanceof protobuf.Enum)) {
        problems.push(`enum ${name}: containerd has no such enum`);
        continue;
      }
      for (const [k, v] of Object.entries(o.values)) {
        if (e.values[k] !== v) problems.push(`enum ${name}: ${k} = ${v} is ${e.values[k] ?? 'missing'} in containerd`);
      }
    } else if (o instanceof protobuf.Service) {
      const s = theirs.lookup(name);
      if (!(s instanceof protobuf.Service)) {
        problems.push(`service ${name}: containerd has no such service`);
        continue;
      }
      for (const m of o.methodsArray) {
        checked.rpcs++;
        const tm = s.methods[m.name];
        const sig = (x: protobuf.Method) =>
          `rpc ${x.name}(${x.requestStream ? 'stream ' : ''}${x.resolvedRequestType?.fullName}) returns (${x.responseStream ? 'stream ' : ''}${x.resolvedResponseType?.fullName})`;
        if (!tm) problems.push(`service ${name}: containerd has no rpc ${m.name}`);
        else if (sig(tm) !== sig(m)) problems.push(`service ${name}: ${sig(m)} is ${sig(tm)} in containerd`);
      }
    }
  }
  return { problems, checked };
}

const theirs = containerdRoot();

test('every message, field, enum and RPC ocictl defines is containerd\'s', () => {
  const { problems, checked } = compare(buildRoot(), theirs);
  assert.deepEqual(problems, []);
  // Everything the brief lists is defined (and so was checked above).
  assert.ok(checked.messages >= 60, `messages checked: ${checked.messages}`);
  assert.ok(checked.rpcs >= 38, `rpcs checked: ${checked.rpcs}`);
  assert.equal(checked.enums, 2);
});

test('the RPCs ocictl calls are all defined', () => {
  const want: Record<string, string[]> = {
    'containerd.services.content.v1.Content': ['Info', 'Update', 'List', 'Delete', 'Read', 'Status', 'ListStatuses', 'Write', 'Abort'],
    'containerd.services.images.v1.Images': ['Get', 'List', 'Create', 'Update', 'Delete'],
    'containerd.services.leases.v1.Leases': ['Create', 'Delete', 'List', 'AddResource', 'DeleteResource', 'ListResources'],
    'containerd.services.snapshots.v1.Snapshots': ['Prepare', 'View', 'Mounts', 'Commit', 'Remove', 'Stat', 'Update', 'List', 'Usage'],
    'containerd.services.diff.v1.Diff': ['Apply', 'Diff'],
    'containerd.services.namespaces.v1.Namespaces': ['Get', 'List', 'Create', 'Update', 'Delete'],
    'containerd.services.introspection.v1.Introspection': ['Plugins'],
    'containerd.services.version.v1.Version': ['Version'],
  };
  const root = buildRoot();
  for (const [svc, methods] of Object.entries(want)) {
    assert.deepEqual(Object.keys(root.lookupService(svc).methods).sort(), [...methods].sort(), svc);
  }
});

function mutated(edit: (api: Record<string, PackageSpec>) => void): protobuf.Root {
  const api = structuredClone(API);
  edit(api);
  return buildRoot(api);
}

test('the check catches a wrong field number, name, type, label, enum value and streaming', () => {
  const cases: [string, (api: Record<string, PackageSpec>) => void, RegExp][] = [
    ['field number', (a) => (a['containerd.services.content.v1']!.messages!['WriteContentRequest']!['offset'] = 'int64 = 9'), /WriteContentRequest: field int64 offset = 9 is int64 offset = 5/],
    ['field number (types)', (a) => (a['containerd.types']!.messages!['Descriptor']!['annotations'] = 'map<string,string> = 4'), /Descriptor: field map<string,string> annotations = 4 is map<string,string> annotations = 5/],
    [
      'field name',
      (a) => {
        const m = a['containerd.services.images.v1']!.messages!['Image']!;
        delete m['updatedAt'];
        m['modifiedAt'] = '.google.protobuf.Timestamp = 8';
      },
      /Image: field .google.protobuf.Timestamp modifiedAt = 8: containerd has no field named modifiedAt \(its field 8 is .google.protobuf.Timestamp updatedAt = 8\)/,
    ],
    ['field type', (a) => (a['containerd.services.content.v1']!.messages!['Info']!['size'] = 'int32 = 2'), /Info: field int32 size = 2 is int64 size = 2/],
    ['repeated', (a) => (a['containerd.types']!.messages!['Mount']!['options'] = 'string = 4'), /Mount: field string options = 4 is repeated string options = 4/],
    ['map', (a) => (a['containerd.services.leases.v1']!.messages!['Lease']!['labels'] = 'repeated string = 3'), /Lease: field repeated string labels = 3 is map<string,string> labels = 3/],
    ['enum value', (a) => (a['containerd.services.snapshots.v1']!.enums!['Kind']!['COMMITTED'] = 2), /Kind: COMMITTED = 2 is 3/],
    ['streaming', (a) => (a['containerd.services.content.v1']!.services!['Content']!['Read'] = 'ReadContentRequest -> ReadContentResponse'), /rpc Read\(.*ReadContentRequest\) returns \(.*ReadContentResponse\) is .* returns \(stream /],
    ['request type', (a) => (a['containerd.services.leases.v1']!.services!['Leases']!['Delete'] = 'ListRequest -> .google.protobuf.Empty'), /rpc Delete\(.*ListRequest\)/],
    ['message name', (a) => (a['containerd.services.diff.v1']!.messages!['ApplyReply'] = { applied: '.containerd.types.Descriptor = 1' }), /message .containerd.services.diff.v1.ApplyReply: containerd has no such message/],
  ];
  for (const [what, edit, want] of cases) {
    const { problems } = compare(mutated(edit), theirs);
    assert.equal(problems.length, 1, `${what}: ${problems.join('; ')}`);
    assert.match(problems[0]!, want, what);
  }
});

test('our codec and protobufjs reading containerd\'s own definitions agree on the bytes', () => {
  // A WRITE request and a content Info encoded by ocictl decode, field for field, with containerd's types.
  const req = { action: 1, ref: 'r', total: 5_000_000_000, expected: 'sha256:' + 'a'.repeat(64), offset: 4_294_967_297, data: Buffer.from('xyz'), labels: { k: 'v' } };
  const bytes = codec('containerd.services.content.v1.WriteContentRequest').encode(req);
  const t = theirs.lookupType('containerd.services.content.v1.WriteContentRequest');
  const back = t.toObject(t.decode(bytes), { longs: Number, defaults: true });
  assert.deepEqual({ ...back, data: Buffer.from(back['data'] as Uint8Array) }, req);
  const info = {
    digest: 'sha256:' + 'b'.repeat(64),
    size: 123,
    createdAt: { seconds: 1_700_000_000, nanos: 5 },
    updatedAt: { seconds: 1_700_000_001, nanos: 0 },
    labels: { 'containerd.io/gc.ref.content.l.0': 'sha256:' + 'c'.repeat(64) },
  };
  const ti = theirs.lookupType('containerd.services.content.v1.Info');
  const theirBytes = Buffer.from(ti.encode(ti.fromObject(info)).finish());
  assert.deepEqual(codec('containerd.services.content.v1.Info').decode(theirBytes), info);
});
