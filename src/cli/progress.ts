/**
 * Progress output: per-blob bars on a TTY (as docker and nerdctl draw them),
 * one line per finished blob otherwise, nothing with -q.
 */
import type { ProgressEvent, ProgressListener } from '../image/events.js';
import { shortDigest } from '../oci/descriptor.js';
import { formatBytes } from './format.js';

interface Row {
  digest: string;
  size: number;
  bytes: number;
  status: string;
  started: number;
}

export interface Progress {
  listener: ProgressListener;
  /** Stops redrawing and prints the final state. */
  done(): void;
}

export function makeProgress(opts: { quiet?: boolean; stream?: NodeJS.WriteStream; verb: 'pull' | 'push' | 'copy' }): Progress {
  const out = opts.stream ?? process.stderr;
  if (opts.quiet) return { listener: () => undefined, done: () => undefined };
  if (!out.isTTY) return lineProgress(out, opts.verb);
  return barProgress(out, opts.verb);
}

const DONE_WORD: Record<string, string> = { exists: 'already exists', mounted: 'mounted', downloaded: 'done', uploaded: 'pushed', linked: 'linked from another namespace' };

function lineProgress(out: NodeJS.WritableStream, verb: string): Progress {
  const starts = new Map<string, number>();
  return {
    listener: (e: ProgressEvent) => {
      if (e.type === 'blob-start') starts.set(e.digest, Date.now());
      else if (e.type === 'blob-done') {
        const t0 = starts.get(e.digest);
        const secs = t0 ? (Date.now() - t0) / 1000 : 0;
        const rate = t0 && secs > 0 && (e.state === 'downloaded' || e.state === 'uploaded') ? `, ${formatBytes(e.size / secs)}/s` : '';
        out.write(`${e.kind} ${shortDigest(e.digest)}: ${DONE_WORD[e.state] ?? e.state} (${formatBytes(e.size)}${rate})\n`);
      } else if (e.type === 'blob-retry') out.write(`${shortDigest(e.digest)}: ${verb} interrupted at ${formatBytes(e.offset)} (${e.reason}); retrying\n`);
      else if (e.type === 'note') out.write(`note: ${e.message}\n`);
    },
    done: () => undefined,
  };
}

function barProgress(out: NodeJS.WriteStream, verb: string): Progress {
  const rows = new Map<string, Row>();
  let drawn = 0;
  let timer: NodeJS.Timeout | undefined;
  const notes: string[] = [];
  let finished = false;
  const draw = (): void => {
    let s = drawn > 0 ? `\x1b[${drawn}A` : '';
    const width = Math.max(20, Math.min(40, (out.columns ?? 80) - 60));
    for (const r of rows.values()) {
      let line = `${shortDigest(r.digest)}: `;
      if (r.status === 'active') {
        const frac = r.size > 0 ? Math.min(1, r.bytes / r.size) : 1;
        const fill = Math.round(frac * width);
        const secs = (Date.now() - r.started) / 1000;
        const rate = secs > 0 ? `${formatBytes(r.bytes / secs)}/s` : '';
        line += `${verb === 'pull' ? 'downloading' : 'uploading'} [${'='.repeat(Math.max(0, fill - 1))}${fill > 0 ? '>' : ''}${' '.repeat(width - fill)}] ${formatBytes(r.bytes)}/${formatBytes(r.size)} ${rate}`;
      } else line += r.status;
      s += `\x1b[2K${line}\n`;
    }
    drawn = rows.size;
    out.write(s);
  };
  const schedule = (): void => {
    if (!timer) timer = setTimeout(() => {
      timer = undefined;
      draw();
    }, 100);
  };
  return {
    listener: (e: ProgressEvent) => {
      if (e.type === 'blob-start') rows.set(e.digest, { digest: e.digest, size: e.size, bytes: 0, status: 'active', started: Date.now() });
      else if (e.type === 'blob-progress') {
        const r = rows.get(e.digest);
        if (r) r.bytes = e.bytes;
      } else if (e.type === 'blob-done') {
        const r = rows.get(e.digest) ?? { digest: e.digest, size: e.size, bytes: e.size, status: '', started: Date.now() };
        r.status = `${DONE_WORD[e.state] ?? e.state} ${formatBytes(e.size)}`;
        rows.set(e.digest, r);
      } else if (e.type === 'note') notes.push(e.message);
      else return;
      schedule();
    },
    done: () => {
      if (finished) return;
      finished = true;
      if (timer) clearTimeout(timer);
      timer = undefined;
      if (rows.size) draw();
      for (const n of notes) out.write(`note: ${n}\n`);
    },
  };
}
