// `rxflow <command>` — the operator's CLI (docs/operations.md). The ./rxflow wrapper runs this file with
// the project's Node. Exit codes: 0 done, 1 failed or refused, 2 bad usage (`verify`: 1 broken, 3 could not check).
import { CommandError, Ctx, EXIT, UsageError, type Command } from './common';

interface Entry { name: string; summary: string; load(): Promise<Command> }
// A command's module (and the service clients it needs) is loaded only when that command runs.
export const COMMANDS: Entry[] = [
  { name: 'stack', summary: 'the local stack and engine: up | down | status | logs (via ./rx)', load: async () => (require('./delegate') as typeof import('./delegate')).stackCommand },
  { name: 'seed', summary: 'migrations + demo catalogue + demo parties (idempotent)', load: async () => (require('./catalogue') as typeof import('./catalogue')).seedCommand },
  { name: 'reindex', summary: 'rebuild the drugs and/or stock index behind its alias, no downtime', load: async () => (require('./catalogue') as typeof import('./catalogue')).reindexCommand },
  { name: 'inspect', summary: 'one prescription: status, stage, who holds it, timeline, Temporal link', load: async () => (require('./inspect') as typeof import('./inspect')).inspectCommand },
  { name: 'stuck', summary: 'work that is not moving: SLAs passed, silent partners, dead workflows, failing webhooks', load: async () => (require('./stuck') as typeof import('./stuck')).stuckCommand },
  { name: 'cancel', summary: 'cancel a prescription through its workflow, recorded as an operator action', load: async () => (require('./operate') as typeof import('./operate')).cancelCommand },
  { name: 'retry', summary: 'restart an open prescription\'s failed, terminated or lost workflow where it stopped', load: async () => (require('./operate') as typeof import('./operate')).retryCommand },
  { name: 'bench', summary: 'run a benchmark script from bench/ (matching, sync-lag, …) with its options', load: async () => (require('./delegate') as typeof import('./delegate')).benchCommand },
  { name: 'adr-export', summary: 'serious adverse reactions from follow-ups in the national ADR report\'s fields (JSON, CSV)', load: async () => (require('./adr') as typeof import('./adr')).adrExportCommand },
  { name: 'verify', summary: 'verify the audit trail\'s hash chains; the first broken link if any (docs/audit.md)', load: async () => (require('./delegate') as typeof import('./delegate')).verifyCommand },
  { name: 'repair', summary: 'reset workflows stuck on a Temporal nondeterminism error, recorded as an operator action', load: async () => (require('./repair') as typeof import('./repair')).repairCommand },
];

export function usage(): string {
  const width = Math.max(...COMMANDS.map((c) => c.name.length));
  return `usage: rxflow <command> [options]

commands:
${COMMANDS.map((c) => `  ${c.name.padEnd(width)}  ${c.summary}`).join('\n')}
  ${'help'.padEnd(width)}  this text; rxflow help <command> (or rxflow <command> --help) for one command

The services are those of the engine's environment: DATABASE_URL, TEMPORAL_ADDRESS, TEMPORAL_NAMESPACE,
ELASTICSEARCH_URL, RX_INDEX_PREFIX, RX_TASK_QUEUE, TEMPORAL_UI_URL, and the timings (RX_REVIEW_SLA_MS, …).
Most commands take --json. Exit codes: 0 done, 1 failed or refused, 2 bad usage. RX_DEBUG=1 prints stacks.`;
}

const isHelp = (a: string | undefined) => a === '--help' || a === '-h' || a === 'help';

/** One line an operator can act on, from whatever was thrown (a SQL error carries its statement first). */
export function oneLine(e: unknown): string {
  if (!(e instanceof Error)) return String(e);
  const pg = e as Error & { code?: string };
  if (typeof pg.code === 'string' && /^[0-9A-Z]{5}$/.test(pg.code)) {
    const msg = e.message.slice(e.message.lastIndexOf(' - ') + 3).trim();
    return pg.code === '42P01' ? `${msg} (is this database migrated? rxflow seed)` : msg;
  }
  return e.message.split('\n').map((l) => l.trim()).find(Boolean) ?? e.name;
}

export async function main(argv: string[]): Promise<number> {
  const [name, ...rest] = argv;
  if (name === undefined) {
    process.stderr.write(`rxflow: no command\n\n${usage()}\n`);
    return EXIT.usage;
  }
  if (isHelp(name)) {
    if (rest[0] === undefined) { process.stdout.write(`${usage()}\n`); return EXIT.ok; }
    const entry = COMMANDS.find((c) => c.name === rest[0]);
    if (!entry) { process.stderr.write(`rxflow: no command "${rest[0]}"; rxflow help lists them\n`); return EXIT.usage; }
    process.stdout.write(`${(await entry.load()).help}\n`);
    return EXIT.ok;
  }
  const entry = COMMANDS.find((c) => c.name === name);
  if (!entry) {
    process.stderr.write(`rxflow: unknown command "${name}"; rxflow help lists the commands\n`);
    return EXIT.usage;
  }
  const cmd = await entry.load();
  // `bench <script> --help` is the script's help, not bench's.
  if (rest.some((a) => a === '--help' || a === '-h') && !(cmd.name === 'bench' && rest[0] && !isHelp(rest[0]))) {
    process.stdout.write(`${cmd.help}\n`);
    return EXIT.ok;
  }
  const ctx = new Ctx();
  try {
    return await cmd.run(rest, ctx);
  } catch (e) {
    if (e instanceof UsageError) {
      process.stderr.write(`rxflow ${cmd.name}: ${e.message}\n${cmd.help.split('\n')[0]}\n`);
      return EXIT.usage;
    }
    if (e instanceof CommandError) {
      process.stderr.write(`rxflow ${cmd.name}: ${e.message}\n`);
      return e.code;
    }
    process.stderr.write(`rxflow ${cmd.name}: failed: ${oneLine(e)}\n`);
    if (process.env.RX_DEBUG) console.error(e);
    return EXIT.failed;
  } finally {
    await ctx.close();
  }
}

if (require.main === module) {
  main(process.argv.slice(2)).then((code) => process.exit(code), (e) => {
    process.stderr.write(`rxflow: ${(e as Error).message}\n`);
    process.exit(EXIT.failed);
  });
}
