// Commands that hand over to what already exists: the local stack (./rx, stack/rxstack), the benchmark
// scripts under bench/, and the audit-trail check (engine/audit-verify.ts).
import { spawn } from 'node:child_process';
import { readdirSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { CommandError, EXIT, ROOT, UsageError, type Command } from './common';

/** Runs a child with this terminal; resolves to its exit code (a signal counts as failure). */
function runChild(cmd: string, args: string[]): Promise<number> {
  return new Promise((resolve, reject) => {
    const child = spawn(cmd, args, { cwd: ROOT, stdio: 'inherit', env: process.env });
    child.on('error', (e) => reject(new CommandError(`cannot run ${path.relative(ROOT, cmd) || cmd}: ${e.message}`)));
    child.on('exit', (code, signal) => resolve(code ?? (signal ? 128 + (({ SIGINT: 2, SIGTERM: 15, SIGKILL: 9 } as Record<string, number>)[signal] ?? 1) : 1)));
  });
}

const STACK_HELP = `usage: rxflow stack up|down|status|logs [pg|temporal|es|engine]

The local stack, through ./rx (which drives stack/rxstack and the engine process): nothing is reimplemented.
  up [svc]       start PostgreSQL, Temporal, Elasticsearch (and, with no service named, seed and start the
                 engine); idempotent. RX_RESTART_ENGINE=1 restarts the engine on new code
  down [svc]     stop (with no service named, the engine too)
  status         one line per service and the engine
  logs [svc]     follow a service's log (engine: the engine's)
A service given by environment (DATABASE_URL, TEMPORAL_ADDRESS, ELASTICSEARCH_URL) is external and left alone.
The exit code is ./rx's.

examples:
  rxflow stack up
  rxflow stack status
  rxflow stack logs temporal`;

const STACK_SERVICES = ['pg', 'temporal', 'es'];

export const stackCommand: Command = {
  name: 'stack',
  help: STACK_HELP,
  async run(args) {
    const [sub, ...rest] = args;
    if (!sub) throw new UsageError('stack needs up, down, status or logs');
    if (!['up', 'down', 'status', 'logs'].includes(sub)) throw new UsageError(`unknown stack command "${sub}" (up, down, status or logs)`);
    const allowed = sub === 'status' ? [] : sub === 'logs' ? [...STACK_SERVICES, 'engine'] : STACK_SERVICES;
    if (rest.length > (allowed.length ? 1 : 0)) throw new UsageError(`stack ${sub} takes ${allowed.length ? 'at most one service' : 'no arguments'}`);
    if (rest[0] !== undefined && !allowed.includes(rest[0])) throw new UsageError(`unknown service "${rest[0]}" (${allowed.join(', ')})`);
    return runChild(path.join(ROOT, 'rx'), [sub, ...rest]);
  },
};

// ---- bench ---------------------------------------------------------------------------------------------

const BENCH_DIR = path.join(ROOT, 'bench');

export interface BenchScript { name: string; file: string; summary: string; header: string }

/** Every script under bench/ (TypeScript or shell), with the header comment that documents it. */
export function benchScripts(): BenchScript[] {
  let files: string[];
  try { files = readdirSync(BENCH_DIR); } catch { return []; }
  return files.filter((f) => /\.(ts|sh)$/.test(f) && !f.endsWith('.d.ts')).sort().map((f) => {
    const lines = readFileSync(path.join(BENCH_DIR, f), 'utf8').split('\n');
    const start = lines[0].startsWith('#!') ? 1 : 0;
    const header: string[] = [];
    for (const l of lines.slice(start)) {
      const m = /^\s*(\/\/|#) ?(.*)$/.exec(l);
      if (!m) break;
      header.push(m[2]);
    }
    // The first sentence of the first paragraph, up to its first colon.
    const para = header.slice(0, (header.indexOf('') + 1 || header.length + 1) - 1).join(' ');
    const summary = para.split(/(?<=[^.]{3})\. |: | — /)[0].replace(/[.:]$/, '');
    return { name: f.replace(/\.(ts|sh)$/, ''), file: f, summary, header: header.join('\n') };
  });
}

function benchHelp(): string {
  const scripts = benchScripts();
  const width = Math.max(0, ...scripts.map((s) => s.name.length));
  return `usage: rxflow bench <script> [options passed to the script…]
       rxflow bench <script> --help     the script's own documentation (its header)
       rxflow bench list

Runs a benchmark script from bench/ with the options after its name passed through unchanged, in this
terminal, with the engine's environment (DATABASE_URL, ELASTICSEARCH_URL, RX_INDEX_PREFIX, …). Results and
their commands belong in docs/benchmarks.md. The exit code is the script's.

scripts:
${scripts.map((s) => `  ${s.name.padEnd(width)}  ${s.summary}`).join('\n')}

examples:
  rxflow bench sync-lag --rate 50 --seconds 10
  rxflow bench matching --db postgres://rxflow:rxflow@127.0.0.1:55432/rxflow_bench --prefix rxbench --duration 20`;
}

export const benchCommand: Command = {
  name: 'bench',
  get help() { return benchHelp(); },
  async run(args) {
    const [name, ...rest] = args;
    if (!name) throw new UsageError('bench needs a script name (rxflow bench list)');
    const scripts = benchScripts();
    if (name === 'list') {
      for (const s of scripts) process.stdout.write(`${s.name}\t${s.summary}\n`);
      return EXIT.ok;
    }
    const script = scripts.find((s) => s.name === name);
    if (!script) throw new UsageError(`no benchmark "${name}" (one of ${scripts.map((s) => s.name).join(', ')})`);
    if (rest.length === 1 && (rest[0] === '--help' || rest[0] === '-h')) {
      process.stdout.write(`bench/${script.file}:\n${script.header}\n`);
      return EXIT.ok;
    }
    const file = path.join(BENCH_DIR, script.file);
    return script.file.endsWith('.sh') ? runChild('bash', [file, ...rest]) : runChild(process.execPath, ['--import', 'tsx', file, ...rest]);
  },
};

// ---- verify ----------------------------------------------------------------------------------------------

export const verifyCommand: Command = {
  name: 'verify',
  help: `usage: rxflow verify [--prescription <uuid>] [--json]

Verifies the tamper-evident audit trail (docs/audit.md) through engine/audit-verify.ts: every event's data
against its digest, every link of the global chain and of each prescription's chain, the chain heads.
Exit 0 intact, 1 broken (the first broken link: event id, expected vs found), 2 bad usage, 3 could not check.

examples:
  rxflow verify
  rxflow verify --prescription 6f1c2a34-…`,
  async run(args) {
    return runChild(process.execPath, ['--import', 'tsx', path.join(ROOT, 'engine', 'audit-verify.ts'), ...args]);
  },
};
