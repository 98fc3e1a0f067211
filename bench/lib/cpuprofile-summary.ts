// Summarises a V8 .cpuprofile (node --cpu-prof) by where the self time was spent: each npm package, each
// file of rxflow, and V8's own (GC, idle, program). Used with bench/engine-cost.ts (docs/benchmarks-e2e.md).
//
//   node --import tsx bench/lib/cpuprofile-summary.ts <file.cpuprofile> [--top 30] [--functions]
import { readFileSync } from 'node:fs';

export interface Node { id: number; callFrame: { functionName: string; url: string; lineNumber: number }; children?: number[] }
export interface Profile { nodes: Node[]; samples: number[]; timeDeltas: number[]; startTime: number; endTime: number }

export function summariseProfile(p: Profile, opts: { top?: number; functions?: boolean; title?: string; perJourneys?: number } = {}): string {
const top = opts.top ?? 30;
const out: string[] = [];
const byId = new Map(p.nodes.map((n) => [n.id, n]));
const self = new Map<number, number>();
p.samples.forEach((id, i) => self.set(id, (self.get(id) ?? 0) + (p.timeDeltas[i] ?? 0)));

function bucket(n: Node): string {
  const url = n.callFrame.url;
  if (!url) return n.callFrame.functionName.startsWith('(') ? n.callFrame.functionName : `(${n.callFrame.functionName || 'native'})`;
  const m = /node_modules\/((?:@[^/]+\/)?[^/]+)/.exec(url);
  if (m) return m[1];
  if (url.startsWith('node:')) return `node:${url.slice(5).split('/')[0]}`;
  const r = /\/(activities|api|catalog|db|domain|engine|workflows|bench|demo)\/[^?]*/.exec(url);
  return r ? r[0].slice(1) : url.slice(-60);
}
const total = [...self.values()].reduce((s, v) => s + v, 0);
const groups = new Map<string, number>();
const fns = new Map<string, number>();
for (const [id, us] of self) {
  const n = byId.get(id)!;
  const b = bucket(n);
  groups.set(b, (groups.get(b) ?? 0) + us);
  const f = `${b} ${n.callFrame.functionName || '(anonymous)'}:${n.callFrame.lineNumber + 1}`;
  fns.set(f, (fns.get(f) ?? 0) + us);
}
const idle = groups.get('(idle)') ?? 0;
const per = opts.perJourneys ? ` (ms per journey: ÷ ${opts.perJourneys})` : '';
const ms = (us: number) => (opts.perJourneys ? (us / 1000 / opts.perJourneys).toFixed(1) : (us / 1000).toFixed(0)).padStart(7);
out.push(`${opts.title ?? 'profile'}: ${(total / 1000).toFixed(0)} ms sampled, ${((total - idle) / 1000).toFixed(0)} ms busy${per}`);
for (const [k, v] of [...groups.entries()].filter(([k]) => k !== '(idle)').sort((x, y) => y[1] - x[1]).slice(0, top)) {
  out.push(`${ms(v)} ms ${((100 * v) / (total - idle)).toFixed(1).padStart(5)} %  ${k}`);
}
if (opts.functions) {
  out.push('--- functions');
  for (const [k, v] of [...fns.entries()].filter(([k]) => !k.startsWith('(idle)')).sort((x, y) => y[1] - x[1]).slice(0, top)) out.push(`${ms(v)} ms  ${k}`);
}
return out.join('\n');
}

if (require.main === module) {
  const a = process.argv.slice(2);
  const file = a.find((x) => !x.startsWith('--'))!;
  console.log(summariseProfile(JSON.parse(readFileSync(file, 'utf8')) as Profile, { title: file, top: Number(a[a.indexOf('--top') + 1]) || 30, functions: a.includes('--functions') }));
}
