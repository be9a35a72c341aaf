/**
 * `ocictl sync PLAN DEST` (skopeo sync's YAML plan; sharded, idempotent,
 * keeps going) and `ocictl referrers REF`. One progress line per image on
 * stderr, the summary on stdout (JSON with `--format json`); the library
 * does the work.
 */
import type { Command } from 'commander';
import { collect, commonOptions, formatOption, intOption, printJson, sideOptions } from './context.js';
import { formatBytes } from './format.js';

type Action = (this: Command, ...args: unknown[]) => Promise<void>;

function addSync(program: Command): void {
  program
    .command('sync')
    .description('copy every image a skopeo-format sync plan selects to DEST; images already there are skipped; --shard splits the work across CI jobs')
    .argument('<plan>', 'YAML plan in skopeo sync format (registry: images / images-by-tag-regex / images-by-semver / tls-verify / cert-dir / credentials)')
    .argument('<destination>', 'host[:port]/prefix: images land at DEST/<repository basename>:<tag> (as skopeo sync)')
    .option('--scoped', 'keep the source host and repository path under DEST')
    .option('--shard <i/n>', 'this job\'s part of the plan (1 ≤ i ≤ n), by a stable hash of repository and tag')
    .option('-j, --jobs <n>', 'images copied at once', '8')
    .option('--max-concurrent <n>', 'blobs copied at once per image', '6')
    .option('--dry-run', 'list what would be copied (with --referrers, the referrers too); copy nothing')
    .option('--referrers', 'also copy signatures, SBOMs and attestations (OCI referrers, cosign tags) of each image and of its platform manifests, recursively')
    .option('--dest-creds <user:password>', 'credentials for the destination registry')
    .option('--dest-insecure', 'destination: skip TLS verification, fall back to plain HTTP')
    .option('--dest-hosts-dir <dir>', 'destination: hosts directory; repeatable', collect)
    .option('-q, --quiet', 'no progress lines')
    .addOption(formatOption())
    .action(async function (this: Command, planFile: string, destination: string) {
      const o = this.opts<{
        scoped?: boolean;
        shard?: string;
        jobs: string;
        maxConcurrent: string;
        dryRun?: boolean;
        referrers?: boolean;
        destCreds?: string;
        destInsecure?: boolean;
        destHostsDir?: string[];
        quiet?: boolean;
        format: string;
      }>();
      const { readPlan, sync, parseShard } = await import('../api-sync.js');
      const { parseDestination } = await import('../sync/select.js');
      const shard = o.shard !== undefined ? parseShard(o.shard) : undefined;
      const dest = parseDestination(destination);
      const plan = await readPlan(planFile);
      const common = commonOptions(this, [dest.registry, ...plan.registries.map((r) => r.registry)]);
      const destinationOptions = await sideOptions({ ...(o.destCreds !== undefined ? { creds: o.destCreds } : {}), ...(o.destInsecure ? { insecure: true } : {}), ...(o.destHostsDir ? { hostsDir: o.destHostsDir } : {}) }, 'dest', common.hostsDirs);
      const out = process.stderr;
      const line = (s: string): void => {
        if (!o.quiet) out.write(`${s}\n`);
      };
      const s = await sync(plan, destination, {
        ...common,
        ...(destinationOptions ? { destinationOptions } : {}),
        ...(o.scoped ? { scoped: true } : {}),
        ...(shard ? { shard } : {}),
        jobs: Math.max(1, intOption(o.jobs, '--jobs')),
        concurrency: Math.max(1, intOption(o.maxConcurrent, '--max-concurrent')),
        ...(o.dryRun ? { dryRun: true } : {}),
        ...(o.referrers ? { referrers: true } : {}),
        onImage: (e) => {
          const i = e.image;
          const n = `[${e.done}/${e.total}]`;
          const refs = i.referrers && i.referrers.copied + i.referrers.existing > 0 ? `, referrers ${i.referrers.copied} copied ${i.referrers.existing} there` : '';
          if (i.state === 'copied') {
            const b = i.blobs;
            line(`${n} copied ${i.source} -> ${i.destination} ${i.digest ?? ''} (${b ? `${b.copied} blobs ${formatBytes(b.bytes)}, ${b.mounted} mounted, ${b.existing} there` : ''}${refs})`);
          } else if (i.state === 'skipped') line(`${n} up to date ${i.destination} ${i.digest ?? ''}${refs ? ` (${refs.slice(2)})` : ''}`);
          else if (i.state === 'would-copy') line(`${n} would copy ${i.source} -> ${i.destination}${i.reason ? ` (${i.reason})` : ''}`);
          else line(`${n} FAILED ${i.source}${i.destination ? ` -> ${i.destination}` : ''}: ${i.reason ?? 'unknown error'}`);
          for (const p of i.plannedReferrers ?? []) {
            const what = p.tag ? `tag ${p.tag}` : (p.artifactType ?? p.mediaType);
            line(`    ${p.there ? 'referrer there' : 'would copy referrer'} ${p.digest} ${what} (of ${p.subject})`);
          }
        },
      });
      if (o.format === 'json') printJson(s);
      else {
        const shardText = s.shard ? ` (shard ${s.shard.index}/${s.shard.count} of ${s.planned})` : '';
        const counts = o.dryRun ? `${s.wouldCopy} would be copied, ${s.skipped} up to date, ${s.failed} failed` : `${s.copied} copied, ${s.skipped} up to date, ${s.failed} failed`;
        const refText = s.referrerPlan ? `; referrers: ${s.referrerPlan.wouldCopy} would be copied, ${s.referrerPlan.there} there` : '';
        process.stdout.write(`${s.selected} images${shardText}: ${counts}${refText}\n`);
        for (const i of s.images) if (i.state === 'failed') process.stdout.write(`failed: ${i.source}: ${i.reason ?? ''}\n`);
      }
      if (s.failed > 0) process.exitCode = 1;
    } as Action);
}

function addReferrers(program: Command): void {
  program
    .command('referrers')
    .description('list what refers to an image (signatures, SBOMs, attestations): OCI referrers and cosign tags, recursively')
    .argument('<image>', 'image reference')
    .option('--all-platforms', 'for a multi-platform index, also list the referrers of each platform manifest')
    .option('--platform <platform>', 'for a multi-platform index, also list the referrers of this platform\'s manifest (os/arch[/variant]); repeatable', collect)
    .addOption(formatOption())
    .action(async function (this: Command, image: string) {
      const o = this.opts<{ format: string; allPlatforms?: boolean; platform?: string[] }>();
      const { parseReference } = await import('../reference/reference.js');
      const { listReferrers } = await import('../api-sync.js');
      const ref = parseReference(image.replace(/^docker:\/\//, ''));
      const r = await listReferrers(ref, {
        ...commonOptions(this, [ref.registry]),
        ...(o.allPlatforms ? { allPlatforms: true } : {}),
        ...(o.platform?.length ? { platforms: o.platform } : {}),
      });
      if (o.format === 'json') {
        printJson(r);
        return;
      }
      process.stdout.write(`${ref.name}@${r.digest}\n`);
      type Node = (typeof r.referrers)[number];
      const walk = (list: Node[], indent: string): void => {
        list.forEach((n, k) => {
          const last = k === list.length - 1;
          const what = n.artifactType ?? n.mediaType;
          const ann = n.annotations ? Object.entries(n.annotations).map(([a, v]) => `${a}=${v}`).join(' ') : '';
          process.stdout.write(`${indent}${last ? '└── ' : '├── '}${what}  ${n.digest}${n.tag ? `  (tag ${n.tag})` : ''}${ann ? `  ${ann}` : ''}\n`);
          walk(n.referrers, indent + (last ? '    ' : '│   '));
        });
      };
      walk(r.referrers, '');
      for (const p of r.platforms ?? []) {
        process.stdout.write(`${ref.name}@${p.digest}${p.platform ? `  (${p.platform})` : ''}\n`);
        walk(p.referrers, '');
      }
    } as Action);
}

export function registerSyncCommands(program: Command): void {
  addSync(program);
  addReferrers(program);
}
