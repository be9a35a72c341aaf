/**
 * Line-based, comment-preserving TOML editing. smol-toml reads and validates;
 * this module only locates statements (table headers and key/value pairs,
 * including values spread over several lines) so that one value can be
 * replaced, inserted or removed while every other byte of the file survives.
 */
import { parse, TomlError } from 'smol-toml';
import { OcictlError } from '../errors.js';

export type TomlLiteral = string | number | boolean | readonly string[] | readonly (readonly string[])[];

export interface TomlStatement {
  kind: 'table' | 'array-table' | 'kv' | 'blank' | 'comment' | 'invalid';
  /** 1-based first and last line. */
  line: number;
  endLine: number;
  /** Byte offsets of the whole statement, `end` after its newline. */
  start: number;
  end: number;
  indent: string;
  /** Table path for headers; the table the statement belongs to otherwise. */
  table: string[];
  /** For kv: the (possibly dotted) key as written, relative to `table`. */
  key?: string[];
  /** For kv: offsets of the value text (without trailing comment). */
  valueStart?: number;
  valueEnd?: number;
  /** For headers: offsets of the key path between the brackets. */
  headerStart?: number;
  headerEnd?: number;
}

const BARE = /^[A-Za-z0-9_-]+$/;

export function formatKey(path: readonly string[]): string {
  return path.map((k) => (BARE.test(k) ? k : JSON.stringify(k))).join('.');
}

export function formatValue(v: TomlLiteral): string {
  if (typeof v === 'string') return JSON.stringify(v);
  if (typeof v === 'number' || typeof v === 'boolean') return String(v);
  return `[${(v as readonly (string | readonly string[])[]).map((x) => (typeof x === 'string' ? JSON.stringify(x) : formatValue(x))).join(', ')}]`;
}

export function samePath(a: readonly string[], b: readonly string[]): boolean {
  return a.length === b.length && a.every((x, i) => x === b[i]);
}

export function startsWith(a: readonly string[], prefix: readonly string[]): boolean {
  return prefix.length <= a.length && prefix.every((x, i) => x === a[i]);
}

/** Splits a TOML file into statements. Never throws: unparseable lines become `invalid`. */
export function lexToml(text: string): TomlStatement[] {
  const out: TomlStatement[] = [];
  let pos = 0;
  let line = 1;
  let table: string[] = [];
  const n = text.length;
  const lineEnd = (p: number): number => {
    const i = text.indexOf('\n', p);
    return i < 0 ? n : i + 1;
  };
  const countLines = (a: number, b: number): number => {
    let c = 0;
    for (let i = a; i < b; i++) if (text.charCodeAt(i) === 10) c++;
    return c;
  };
  while (pos < n) {
    const le = lineEnd(pos);
    const raw = text.slice(pos, le);
    const indent = /^[ \t]*/.exec(raw)![0];
    const body = raw.slice(indent.length).replace(/\r?\n$/, '');
    const base = { line, endLine: line, start: pos, end: le, indent, table };
    if (body === '') {
      out.push({ ...base, kind: 'blank' });
    } else if (body.startsWith('#')) {
      out.push({ ...base, kind: 'comment' });
    } else if (body.startsWith('[')) {
      const isArray = body.startsWith('[[');
      const open = pos + indent.length + (isArray ? 2 : 1);
      const parsed = parseKey(text, open);
      const close = parsed ? skipWs(text, parsed.end) : -1;
      const ok = parsed && text.startsWith(isArray ? ']]' : ']', close);
      if (!parsed || !ok) {
        out.push({ ...base, kind: 'invalid' });
      } else {
        table = parsed.path;
        out.push({ ...base, table, kind: isArray ? 'array-table' : 'table', headerStart: open, headerEnd: parsed.end });
      }
    } else {
      const parsed = parseKey(text, pos + indent.length);
      const eq = parsed ? skipWs(text, parsed.end) : -1;
      if (!parsed || text[eq] !== '=') {
        out.push({ ...base, kind: 'invalid' });
      } else {
        const vs = skipWs(text, eq + 1);
        const ve = scanValue(text, vs);
        const stmtEnd = lineEnd(ve);
        const lines = countLines(pos, Math.max(pos, stmtEnd - 1));
        out.push({ ...base, kind: 'kv', key: parsed.path, valueStart: vs, valueEnd: ve, end: stmtEnd, endLine: line + lines });
        line += lines + 1;
        pos = stmtEnd;
        continue;
      }
    }
    pos = le;
    line++;
  }
  return out;
}

function skipWs(text: string, p: number): number {
  while (p < text.length && (text[p] === ' ' || text[p] === '\t')) p++;
  return p;
}

function parseKey(text: string, p: number): { path: string[]; end: number } | undefined {
  const path: string[] = [];
  for (;;) {
    p = skipWs(text, p);
    const c = text[p];
    if (c === '"') {
      const e = scanBasicString(text, p);
      if (e < 0) return undefined;
      try {
        path.push(JSON.parse(text.slice(p, e)) as string);
      } catch {
        return undefined;
      }
      p = e;
    } else if (c === "'") {
      const e = text.indexOf("'", p + 1);
      if (e < 0) return undefined;
      path.push(text.slice(p + 1, e));
      p = e + 1;
    } else {
      const m = /^[A-Za-z0-9_-]+/.exec(text.slice(p, p + 256));
      if (!m) return undefined;
      path.push(m[0]);
      p += m[0].length;
    }
    const q = skipWs(text, p);
    if (text[q] === '.') {
      p = q + 1;
      continue;
    }
    return { path, end: p };
  }
}

/** Returns the offset after the closing quote of a basic string starting at p, or -1. */
function scanBasicString(text: string, p: number): number {
  for (let i = p + 1; i < text.length; i++) {
    const c = text[i];
    if (c === '\\') i++;
    else if (c === '"') return i + 1;
    else if (c === '\n') return -1;
  }
  return -1;
}

/** Returns the offset just after a value (before any trailing comment or whitespace). */
function scanValue(text: string, p: number): number {
  let depth = 0;
  let i = p;
  let lastSignificant = p;
  while (i < text.length) {
    const c = text[i];
    if (text.startsWith('"""', i) || text.startsWith("'''", i)) {
      const q = text.slice(i, i + 3);
      let j = i + 3;
      for (;;) {
        const k = text.indexOf(q, j);
        if (k < 0) return text.length;
        if (q === '"""') {
          let bs = 0;
          for (let b = k - 1; b >= j && text[b] === '\\'; b--) bs++;
          if (bs % 2 === 1) {
            j = k + 1;
            continue;
          }
        }
        j = k + 3;
        while (text[j] === q[0]) j++;
        break;
      }
      i = j;
      lastSignificant = i;
      continue;
    }
    if (c === '"') {
      const e = scanBasicString(text, i);
      i = e < 0 ? text.indexOf('\n', i) : e;
      if (i < 0) return text.length;
      lastSignificant = i;
      continue;
    }
    if (c === "'") {
      const e = text.indexOf("'", i + 1);
      i = e < 0 ? text.length : e + 1;
      lastSignificant = i;
      continue;
    }
    if (c === '#') {
      const e = text.indexOf('\n', i);
      if (depth === 0) return lastSignificant;
      i = e < 0 ? text.length : e;
      continue;
    }
    if (c === '\n' || c === '\r') {
      if (depth === 0) return lastSignificant;
      i++;
      continue;
    }
    if (c === '[' || c === '{') depth++;
    else if (c === ']' || c === '}') depth--;
    i++;
    if (c !== ' ' && c !== '\t') lastSignificant = i;
  }
  return lastSignificant;
}

/** A TOML document edited in place, one statement at a time. */
export class TomlDocument {
  private content: string;
  private stmts: TomlStatement[];

  constructor(text: string) {
    this.content = text;
    this.stmts = lexToml(text);
  }

  get text(): string {
    return this.content;
  }

  statements(): readonly TomlStatement[] {
    return this.stmts;
  }

  private splice(start: number, end: number, insert: string): void {
    this.content = this.content.slice(0, start) + insert + this.content.slice(end);
    this.stmts = lexToml(this.content);
  }

  /** The header statement of table `path`, if written as `[path]`. */
  findTable(path: readonly string[]): TomlStatement | undefined {
    return this.stmts.find((s) => s.kind === 'table' && samePath(s.table, path));
  }

  /** The key/value statement whose full path is `path`. */
  findKey(path: readonly string[]): TomlStatement | undefined {
    return this.stmts.find((s) => s.kind === 'kv' && samePath([...s.table, ...s.key!], path));
  }

  valueText(s: TomlStatement): string {
    return this.content.slice(s.valueStart!, s.valueEnd!);
  }

  /** Sets `table.key = value`; returns true when the text changed. */
  set(table: readonly string[], key: string, value: TomlLiteral): boolean {
    const literal = formatValue(value);
    const existing = this.findKey([...table, key]);
    if (existing) {
      const old = this.valueText(existing);
      if (sameLiteral(old, value)) return false;
      this.splice(existing.valueStart!, existing.valueEnd!, literal);
      return true;
    }
    const header = this.findTable(table);
    if (header) {
      const idx = this.stmts.indexOf(header);
      let last = header;
      let kvIndent: string | undefined;
      for (let i = idx + 1; i < this.stmts.length; i++) {
        const s = this.stmts[i]!;
        if (s.kind === 'table' || s.kind === 'array-table') break;
        if (s.kind === 'kv') {
          last = s;
          kvIndent ??= s.indent;
        }
      }
      const indent = kvIndent ?? `${header.indent}  `;
      const needNl = this.content.length > 0 && !this.content.slice(0, last.end).endsWith('\n') ? '\n' : '';
      this.splice(last.end, last.end, `${needNl}${indent}${formatKey([key])} = ${literal}\n`);
      return true;
    }
    if (table.length === 0) {
      // Root table: insert before the first header.
      const first = this.stmts.find((s) => s.kind === 'table' || s.kind === 'array-table');
      const at = first ? first.start : this.content.length;
      this.splice(at, at, `${formatKey([key])} = ${literal}\n${first ? '\n' : ''}`);
      return true;
    }
    // Insert a new table after the subtree of its closest written ancestor.
    let anc: TomlStatement | undefined;
    for (let k = table.length - 1; k >= 1 && !anc; k--) anc = this.findTable(table.slice(0, k));
    let at = this.content.length;
    let headerIndent = '';
    if (anc) {
      const ancPath = anc.table;
      headerIndent = `${anc.indent}  `;
      const idx = this.stmts.indexOf(anc);
      let lastInSubtree = anc;
      for (let i = idx + 1; i < this.stmts.length; i++) {
        const s = this.stmts[i]!;
        if ((s.kind === 'table' || s.kind === 'array-table') && !startsWith(s.table, ancPath)) break;
        if (s.kind !== 'blank') lastInSubtree = s;
      }
      at = lastInSubtree.end;
    }
    const before = this.content.slice(0, at);
    const lead = before.length === 0 ? '' : before.endsWith('\n') ? '\n' : '\n\n';
    this.splice(at, at, `${lead}${headerIndent}[${formatKey(table)}]\n${headerIndent}  ${formatKey([key])} = ${literal}\n`);
    return true;
  }

  /** Removes `path` (a key/value statement, with its lines). */
  removeKey(path: readonly string[]): boolean {
    const s = this.findKey(path);
    if (!s) return false;
    this.splice(s.start, s.end, '');
    return true;
  }

  /**
   * Removes the table `path` with its keys and every sub-table, plus comments
   * directly above removed headers and one trailing blank line.
   */
  removeTable(path: readonly string[]): boolean {
    let changed = false;
    for (;;) {
      const idx = this.stmts.findIndex((s) => (s.kind === 'table' || s.kind === 'array-table') && startsWith(s.table, path));
      if (idx < 0) return changed;
      let endIdx = idx + 1;
      while (endIdx < this.stmts.length) {
        const s = this.stmts[endIdx]!;
        if ((s.kind === 'table' || s.kind === 'array-table') && !startsWith(s.table, path)) break;
        endIdx++;
      }
      // trailing blank and comment lines belong to what follows
      let last = endIdx - 1;
      while (last > idx && (this.stmts[last]!.kind === 'comment' || this.stmts[last]!.kind === 'blank')) last--;
      const from = this.stmts[idx]!.start;
      let end = this.stmts[last]!.end;
      // avoid leaving two blank lines where the table was
      if (this.stmts[idx - 1]?.kind === 'blank' && this.stmts[last + 1]?.kind === 'blank') end = this.stmts[last + 1]!.end;
      this.splice(from, end, '');
      changed = true;
    }
  }

  /** Rewrites the key path of a table header (keeps indentation and anything after `]`). */
  renameHeader(s: TomlStatement, path: readonly string[]): void {
    this.splice(s.headerStart!, s.headerEnd!, formatKey(path));
  }
}

function sameLiteral(old: string, v: TomlLiteral): boolean {
  try {
    const parsed = parse(`x = ${old}`).x;
    return JSON.stringify(parsed) === JSON.stringify(v);
  } catch {
    return false;
  }
}

/** Parses TOML or throws CONFIG_INVALID naming the file and line. */
export function parseTomlOrThrow(text: string, file: string): Record<string, unknown> {
  try {
    return parse(text) as Record<string, unknown>;
  } catch (e) {
    if (e instanceof TomlError) {
      throw new OcictlError('CONFIG_INVALID', `${file}:${e.line}: ${e.message.split('\n')[0]}`, { hint: 'fix the TOML syntax first' });
    }
    throw e;
  }
}

/** Reads a nested value by path from parsed TOML. */
export function getPath(obj: unknown, path: readonly string[]): unknown {
  let cur: unknown = obj;
  for (const k of path) {
    if (cur === null || typeof cur !== 'object' || Array.isArray(cur)) return undefined;
    cur = (cur as Record<string, unknown>)[k];
  }
  return cur;
}
