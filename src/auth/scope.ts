/** Token scopes: `repository:<name>:<actions>`, merged and compared. */
export type Action = 'pull' | 'push' | 'delete' | '*';

export function repositoryScope(repository: string, actions: Action[]): string {
  return `repository:${repository}:${[...new Set(actions)].join(',')}`;
}

/** Merges scopes for the same resource (`repository:a:pull` + `repository:a:push` → `repository:a:pull,push`). */
export function mergeScopes(scopes: string[]): string[] {
  const m = new Map<string, Set<string>>();
  for (const s of scopes) {
    const i = s.lastIndexOf(':');
    if (i < 0) continue;
    const res = s.slice(0, i);
    const acts = m.get(res) ?? new Set<string>();
    for (const a of s.slice(i + 1).split(',')) if (a) acts.add(a);
    m.set(res, acts);
  }
  return [...m.entries()].map(([r, a]) => `${r}:${[...a].sort(actionOrder).join(',')}`).sort();
}

function actionOrder(a: string, b: string): number {
  const order = ['pull', 'push', 'delete', '*'];
  const ia = order.includes(a) ? order.indexOf(a) : order.length;
  const ib = order.includes(b) ? order.indexOf(b) : order.length;
  return ia - ib || a.localeCompare(b);
}
