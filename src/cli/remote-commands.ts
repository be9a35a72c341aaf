/**
 * Commands for promotion and remote inspection: copy, save, load, tags,
 * digest, manifest, delete, and `inspect --remote`. Each prints data to
 * stdout (JSON with `--format json`) and progress to stderr. Actions import
 * the library lazily.
 */
import { type Command, Option } from 'commander';
import { collect, commonOptions, formatOption, intOption, printJson, sideOptions } from './context.js';

type Action = (this: Command, ...args: unknown[]) => Promise<void>;

function registriesOf(...locs: import('../image/transports.js').ImageLocation[]): string[] {
  return locs.flatMap((l) => (l.transport === 'registry' ? [l.ref.registry] : []));
}

function addCopy(program: Command): void {
  program
    .command('copy')
    .description('copy an image between registries, OCI layouts, archives and the local store; the digest is kept')
    .argument('<source>', 'REF | oci:DIR[:TAG] | oci-archive:FILE[:TAG] | docker-archive:FILE[:REF] | store:NAME')
    .argument('<destination>', 'same forms as the source')
    .option('--platform <platform>', 'copy only this platform (os/arch[/variant]); repeatable; the digest changes', collect)
    .option('--all-platforms', 'copy every platform (the default for a multi-platform image)')
    .option('-a, --all-tags', 'copy every tag of the source repository to the destination repository')
    .option('-j, --jobs <n>', 'blobs copied at once', '6')
    .option('--src-creds <user:password>', 'credentials for the source registry')
    .option('--dest-creds <user:password>', 'credentials for the destination registry')
    .option('--src-insecure', 'source: skip TLS verification, fall back to plain HTTP')
    .option('--dest-insecure', 'destination: skip TLS verification, fall back to plain HTTP')
    .option('--src-hosts-dir <dir>', 'source: hosts directory (<host:port>/hosts.toml or ca.crt); repeatable', collect)
    .option('--dest-hosts-dir <dir>', 'destination: hosts directory; repeatable', collect)
    .option('--digestfile <file>', 'write the digest of the copied image to this file')
    .option('-q, --quiet', 'print only the digest')
    .option('--referrers', 'also copy signatures, SBOMs and attestations that refer to the image (OCI referrers and cosign tags), recursively')
    .addOption(formatOption())
    .action(async function (this: Command, source: string, destination: string) {
      const o = this.opts<{
        platform?: string[];
        allPlatforms?: boolean;
        allTags?: boolean;
        jobs: string;
        srcCreds?: string;
        destCreds?: string;
        srcInsecure?: boolean;
        destInsecure?: boolean;
        srcHostsDir?: string[];
        destHostsDir?: string[];
        digestfile?: string;
        quiet?: boolean;
        referrers?: boolean;
        format: string;
      }>();
      const { parseLocation } = await import('../image/transports.js');
      const { copy } = await import('../api-copy.js');
      const { makeProgress } = await import('./progress.js');
      const from = parseLocation(source);
      const to = parseLocation(destination, { defaultTag: null });
      const common = commonOptions(this, registriesOf(from, to));
      const src = await sideOptions({ ...(o.srcCreds !== undefined ? { creds: o.srcCreds } : {}), ...(o.srcInsecure ? { insecure: true } : {}), ...(o.srcHostsDir ? { hostsDir: o.srcHostsDir } : {}) }, 'src', common.hostsDirs);
      const dst = await sideOptions({ ...(o.destCreds !== undefined ? { creds: o.destCreds } : {}), ...(o.destInsecure ? { insecure: true } : {}), ...(o.destHostsDir ? { hostsDir: o.destHostsDir } : {}) }, 'dest', common.hostsDirs);
      const quiet = o.quiet === true || o.format === 'json';
      const progress = makeProgress({ quiet: o.quiet === true, verb: 'copy' });
      if (!quiet) process.stderr.write(`Copying ${source} to ${destination}\n`);
      let r;
      try {
        r = await copy(from, to, {
          ...common,
          ...(src ? { source: src } : {}),
          ...(dst ? { destination: dst } : {}),
          ...(o.platform ? { platforms: o.platform } : {}),
          ...(o.allPlatforms ? { allPlatforms: true } : {}),
          allTags: o.allTags === true,
          ...(o.referrers ? { referrers: true } : {}),
          concurrency: Math.max(1, intOption(o.jobs, '--jobs')),
          onProgress: progress.listener,
        });
      } finally {
        progress.done();
      }
      if (o.digestfile) {
        const { writeFile } = await import('node:fs/promises');
        await writeFile(o.digestfile, r.images.length === 1 ? r.digest : r.images.map((i) => `${i.destination ?? ''} ${i.digest}`).join('\n'));
      }
      if (o.format === 'json') {
        printJson(r);
        return;
      }
      if (o.quiet) {
        for (const i of r.images) process.stdout.write(`${i.digest}\n`);
        return;
      }
      for (const i of r.images) {
        const b = i.blobs;
        process.stderr.write(`${i.destination ?? r.destination}: ${b.copied} blobs copied, ${b.mounted} mounted, ${b.existing} already there\n`);
        if (i.note) process.stderr.write(`note: ${i.note}\n`);
        if (i.referrers) process.stderr.write(`referrers: ${i.referrers.copied} copied, ${i.referrers.existing} already there, ${i.referrers.indexesUpdated} referrers indexes updated\n`);
        process.stdout.write(r.images.length > 1 ? `${i.destination ?? ''} ${i.digest}\n` : `Digest: ${i.digest}\n`);
      }
    } as Action);
}

function addSave(program: Command): void {
  program
    .command('save')
    .description('write images of the local store to a tar archive (docker load / ctr images import read it)')
    .argument('<images...>', 'image names or IDs')
    .option('-o, --output <file>', 'archive to write (default: stdout, when it is not a terminal)')
    .addOption(new Option('--format <format>', 'archive format').choices(['docker', 'oci']).default('docker'))
    .option('--platform <platform>', 'platform to save (os/arch[/variant]); repeatable', collect)
    .option('--all-platforms', 'save every platform (OCI format; the Docker format holds one per image)')
    .action(async function (this: Command, images: string[]) {
      const o = this.opts<{ output?: string; format: 'docker' | 'oci'; platform?: string[]; allPlatforms?: boolean }>();
      const { OcictlError } = await import('../errors.js');
      if (!o.output && process.stdout.isTTY) {
        throw new OcictlError('INVALID_ARGUMENT', 'refusing to write an archive to a terminal', { hint: 'pass -o FILE or redirect stdout' });
      }
      const { saveImages } = await import('../api-copy.js');
      await saveImages(images, o.output ?? process.stdout, {
        ...commonOptions(this),
        format: o.format,
        ...(o.platform ? { platforms: o.platform } : {}),
        ...(o.allPlatforms ? { allPlatforms: true } : {}),
      });
    } as Action);
}

function addLoad(program: Command): void {
  program
    .command('load')
    .description('read images from a docker-archive or oci-archive (gzip too) into the local store')
    .option('-i, --input <file>', 'archive to read (default: stdin)')
    .option('--platform <platform>', 'platform to load from a multi-platform image; repeatable', collect)
    .option('--all-platforms', 'load every platform')
    .option('-q, --quiet', 'print nothing but errors')
    .addOption(formatOption())
    .action(async function (this: Command) {
      const o = this.opts<{ input?: string; platform?: string[]; allPlatforms?: boolean; quiet?: boolean; format: string }>();
      const { OcictlError } = await import('../errors.js');
      if (!o.input && process.stdin.isTTY) throw new OcictlError('INVALID_ARGUMENT', 'no archive given and stdin is a terminal', { hint: 'pass -i FILE or pipe the archive in' });
      const { loadImages } = await import('../api-copy.js');
      const r = await loadImages(o.input ?? '-', {
        ...commonOptions(this),
        ...(o.platform ? { platforms: o.platform } : {}),
        ...(o.allPlatforms ? { allPlatforms: true } : {}),
      });
      if (o.format === 'json') {
        printJson(r.images);
        return;
      }
      if (o.quiet) return;
      for (const i of r.images) {
        for (const n of i.names) process.stdout.write(`Loaded image: ${n}\n`);
        if (i.note) process.stderr.write(`note: ${i.note}\n`);
      }
    } as Action);
}

function addTags(program: Command): void {
  program
    .command('tags')
    .description('list the tags of a repository in its registry, sorted')
    .argument('<repository>', 'e.g. 127.0.0.1:5000/lidabai/busybox')
    .addOption(formatOption())
    .action(async function (this: Command, repository: string) {
      const o = this.opts<{ format: string }>();
      const { parseRepository } = await import('../reference/reference.js');
      const { listTags } = await import('../api.js');
      const repo = parseRepository(repository.replace(/^docker:\/\//, ''));
      const tags = await listTags(repo, commonOptions(this, [repo.registry]));
      if (o.format === 'json') printJson({ Repository: repo.name, Tags: tags });
      else for (const t of tags) process.stdout.write(`${t}\n`);
    } as Action);
}

function addDigest(program: Command): void {
  program
    .command('digest')
    .description('print the digest a reference points to in its registry')
    .argument('<image>', 'image reference')
    .option('--platform <platform>', 'the digest of this platform\'s manifest in a multi-platform image')
    .addOption(formatOption())
    .action(async function (this: Command, image: string) {
      const o = this.opts<{ platform?: string; format: string }>();
      const { parseReference } = await import('../reference/reference.js');
      const ref = parseReference(image.replace(/^docker:\/\//, ''));
      const opts = commonOptions(this, [ref.registry]);
      let d: { digest: string; mediaType: string; size: number };
      if (o.platform) {
        const { fetchPlatformManifest } = await import('../api-copy.js');
        const m = await fetchPlatformManifest(ref, { ...opts, platform: o.platform });
        d = { digest: m.digest, mediaType: m.mediaType, size: m.bytes.length };
      } else {
        const { resolve } = await import('../api.js');
        d = await resolve(ref, opts);
      }
      if (o.format === 'json') printJson({ Reference: ref.toString(), Digest: d.digest, MediaType: d.mediaType, Size: d.size });
      else process.stdout.write(`${d.digest}\n`);
    } as Action);
}

function addManifest(program: Command): void {
  program
    .command('manifest')
    .description('print a manifest exactly as the registry serves it')
    .argument('<image>', 'image reference')
    .option('--platform <platform>', 'the manifest of this platform of a multi-platform image')
    .addOption(formatOption())
    .action(async function (this: Command, image: string) {
      const o = this.opts<{ platform?: string; format: string }>();
      const { parseReference } = await import('../reference/reference.js');
      const { fetchPlatformManifest } = await import('../api-copy.js');
      const ref = parseReference(image.replace(/^docker:\/\//, ''));
      const m = await fetchPlatformManifest(ref, { ...commonOptions(this, [ref.registry]), ...(o.platform ? { platform: o.platform } : {}) });
      if (o.format === 'json') printJson({ Reference: ref.toString(), Digest: m.digest, MediaType: m.mediaType, Size: m.bytes.length, Manifest: JSON.parse(m.bytes.toString('utf8')) as unknown });
      else process.stdout.write(m.bytes);
    } as Action);
}

function addDelete(program: Command): void {
  program
    .command('delete')
    .description('delete an image from its registry (by digest; a tag is resolved first, and every tag of that digest goes)')
    .argument('<images...>', 'image references')
    .addOption(formatOption())
    .action(async function (this: Command, images: string[]) {
      const o = this.opts<{ format: string }>();
      const { parseReference } = await import('../reference/reference.js');
      const { deleteRemote } = await import('../api-copy.js');
      const out: { Reference: string; Digest: string }[] = [];
      for (const i of images) {
        const ref = parseReference(i.replace(/^docker:\/\//, ''));
        const r = await deleteRemote(ref, commonOptions(this, [ref.registry]));
        out.push({ Reference: r.reference, Digest: r.digest });
        if (o.format !== 'json') process.stdout.write(`Deleted: ${ref.name}@${r.digest}\n`);
      }
      if (o.format === 'json') printJson(out);
    } as Action);
}

/** `inspect --remote`: config and layers of each platform, read from the registry. */
export async function inspectRemoteCommand(cmd: Command, images: string[], platform: string | undefined): Promise<void> {
  const { parseReference } = await import('../reference/reference.js');
  const { inspectRemote } = await import('../api-copy.js');
  const out = [];
  for (const i of images) {
    const ref = parseReference(i.replace(/^docker:\/\//, ''));
    out.push(await inspectRemote(ref, { ...commonOptions(cmd, [ref.registry]), ...(platform ? { platform } : {}) }));
  }
  printJson(out);
}

export function registerRemoteCommands(program: Command): void {
  addCopy(program);
  addSave(program);
  addLoad(program);
  addTags(program);
  addDigest(program);
  addManifest(program);
  addDelete(program);
}
