// Shared by the sync tests: blobs and manifests put straight into a plain-HTTP docker-registry (for
// artifacts built by hand: SBOMs, signatures with `subject`), and tag/digest snapshots of a registry.
import { createHash } from 'node:crypto';

export function digestOf(b: Buffer | string): string {
  return `sha256:${createHash('sha256').update(b).digest('hex')}`;
}

/** POST + PUT ?digest= of one blob (plain HTTP registry, no auth). */
export async function putBlob(registry: string, repo: string, data: Buffer | string): Promise<{ digest: string; size: number }> {
  const buf = typeof data === 'string' ? Buffer.from(data) : data;
  const digest = digestOf(buf);
  const post = await fetch(`http://${registry}/v2/${repo}/blobs/uploads/`, { method: 'POST' });
  if (post.status !== 202) throw new Error(`POST upload: ${post.status}`);
  const u = new URL(post.headers.get('location') as string, `http://${registry}`);
  u.searchParams.set('digest', digest);
  const put = await fetch(u, { method: 'PUT', body: new Uint8Array(buf), headers: { 'content-type': 'application/octet-stream' } });
  if (put.status !== 201) throw new Error(`PUT blob: ${put.status} ${await put.text()}`);
  return { digest, size: buf.length };
}

/** PUT of a manifest under a tag or its digest; returns its descriptor. */
export async function putManifest(registry: string, repo: string, doc: object, tag?: string): Promise<{ mediaType: string; digest: string; size: number }> {
  const bytes = Buffer.from(JSON.stringify(doc));
  const mediaType = (doc as { mediaType?: string }).mediaType ?? 'application/vnd.oci.image.manifest.v1+json';
  const digest = digestOf(bytes);
  const res = await fetch(`http://${registry}/v2/${repo}/manifests/${tag ?? digest}`, { method: 'PUT', body: new Uint8Array(bytes), headers: { 'content-type': mediaType } });
  if (res.status !== 201) throw new Error(`PUT manifest ${repo}:${tag ?? digest}: ${res.status} ${await res.text()}`);
  return { mediaType, digest, size: bytes.length };
}

/** The manifest bytes under a tag or digest, or undefined (404). */
export async function getManifest(registry: string, repo: string, ref: string): Promise<Buffer | undefined> {
  const res = await fetch(`http://${registry}/v2/${repo}/manifests/${ref}`, {
    headers: {
      accept: [
        'application/vnd.oci.image.index.v1+json',
        'application/vnd.oci.image.manifest.v1+json',
        'application/vnd.docker.distribution.manifest.list.v2+json',
        'application/vnd.docker.distribution.manifest.v2+json',
      ].join(', '),
    },
  });
  if (res.status === 404) return undefined;
  if (res.status !== 200) throw new Error(`GET manifest ${repo}:${ref}: ${res.status}`);
  return Buffer.from(await res.arrayBuffer());
}

/** Every `repo:tag -> digest` under a repository prefix of a plain-HTTP registry (via _catalog and tags/list). */
export async function snapshot(registry: string, prefix: string): Promise<Record<string, string>> {
  const cat = (await (await fetch(`http://${registry}/v2/_catalog?n=1000`)).json()) as { repositories?: string[] };
  const out: Record<string, string> = {};
  for (const repo of cat.repositories ?? []) {
    if (!repo.startsWith(`${prefix}/`)) continue;
    const t = (await (await fetch(`http://${registry}/v2/${repo}/tags/list`)).json()) as { tags?: string[] | null };
    for (const tag of t.tags ?? []) {
      const m = await getManifest(registry, repo, tag);
      if (m) out[`${repo.slice(prefix.length + 1)}:${tag}`] = digestOf(m);
    }
  }
  return out;
}
