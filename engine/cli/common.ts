// What every `rxflow` command shares: the error types that pick the exit code, argument parsing, lazy
// connections to the services (a command opens only what it uses), and small formatting helpers.
import os from 'node:os';
import path from 'node:path';
import { parseArgs, type ParseArgsConfig } from 'node:util';
// The service clients are loaded on first use: `rxflow <cmd> --help` and the commands that hand over to
// scripts start in a fraction of a second.
import type { Client as EsClient } from '@elastic/elasticsearch';
import type { Client as TemporalClient, Connection } from '@temporalio/client';
import type { MikroORM } from '@mikro-orm/postgresql';
import { loadConfig, type Config } from '../config';

export const ROOT = path.resolve(__dirname, '..', '..');

/** Exit codes: 0 done, 1 the command ran and failed or was refused, 2 bad usage (or not available yet). */
export const EXIT = { ok: 0, failed: 1, usage: 2 } as const;

/** Bad usage: the message and the command's usage go to stderr, exit 2. */
export class UsageError extends Error {}
/** The command understood what to do and could not, or must not: one line to stderr, exit `code`. */
export class CommandError extends Error {
  constructor(message: string, readonly code: number = EXIT.failed) { super(message); }
}

export interface Command {
  name: string;
  /** The full text for `rxflow <cmd> --help`: usage, options, examples. */
  help: string;
  run(args: string[], ctx: Ctx): Promise<number>;
}

type Options = NonNullable<ParseArgsConfig['options']>;
export type Values = Record<string, string | boolean | undefined>;

/** Strict parsing: an unknown option or a missing value is a UsageError that names it. */
export function parse(args: string[], options: Options, positionals: { min: number; max: number; names: string }): { values: Values; positionals: string[] } {
  let r;
  try {
    r = parseArgs({ args, options, strict: true, allowPositionals: true });
  } catch (e) {
    throw new UsageError((e as Error).message.replace(/\. To specify a positional argument.*$/s, ''));
  }
  if (r.positionals.length < positionals.min) throw new UsageError(`missing ${positionals.names}`);
  if (r.positionals.length > positionals.max) throw new UsageError(`unexpected argument "${r.positionals[positionals.max]}"`);
  return { values: r.values as Values, positionals: r.positionals };
}

export const str = (v: Values, name: string): string | undefined => (typeof v[name] === 'string' ? (v[name] as string) : undefined);

export function positiveInt(v: Values, name: string, fallback: number): number {
  const s = str(v, name);
  if (s === undefined) return fallback;
  if (!/^\d+$/.test(s) || Number(s) < 1) throw new UsageError(`--${name} must be a positive integer, got "${s}"`);
  return Number(s);
}

/** Who is at the keyboard: recorded as `operator:<name>` on every action the CLI takes. */
export function operatorName(v: Values): string {
  const name = str(v, 'by') ?? process.env.RX_OPERATOR ?? process.env.USER ?? os.userInfo().username;
  if (!name || !/^[\p{L}\p{N}._@-]{1,60}$/u.test(name)) throw new UsageError(`--by must be 1–60 letters, digits or ._@- (the operator's name), got "${name ?? ''}"`);
  return name;
}

/** Connections opened on first use and closed by the dispatcher, whatever the command did. */
export class Ctx {
  readonly config: Config = loadConfig();
  private ormP?: Promise<MikroORM>;
  private esC?: EsClient;
  private temporalP?: Promise<{ client: TemporalClient; connection: Connection }>;

  orm(): Promise<MikroORM> {
    this.ormP ??= Promise.resolve().then(() => (require('../../db/orm') as typeof import('../../db/orm')).openOrm(this.config.databaseUrl)).catch((e) => {
      throw new CommandError(`cannot reach PostgreSQL (DATABASE_URL=${redact(this.config.databaseUrl)}): ${(e as Error).message}`);
    });
    return this.ormP;
  }

  async sql<T = any>(query: string, params: unknown[] = []): Promise<T[]> {
    return (await this.orm()).em.fork().getConnection().execute(query, params);
  }

  async es(): Promise<EsClient> {
    const { Client } = require('@elastic/elasticsearch') as typeof import('@elastic/elasticsearch');
    this.esC ??= new Client({ node: this.config.elasticsearchUrl, requestTimeout: 120_000 });
    return this.esC;
  }

  async temporal(): Promise<TemporalClient> {
    this.temporalP ??= Promise.resolve(require('@temporalio/client') as typeof import('@temporalio/client'))
      .then(async ({ Client, Connection: Conn }) => {
        const connection = await Conn.connect({ address: this.config.temporalAddress, connectTimeout: 10_000 });
        return { connection, client: new Client({ connection, namespace: this.config.temporalNamespace }) };
      })
      .catch((e) => { throw new CommandError(`cannot reach Temporal at ${this.config.temporalAddress}: ${(e as Error).message}`); });
    return (await this.temporalP).client;
  }

  async close(): Promise<void> {
    const orm = await this.ormP?.catch(() => undefined);
    const t = await this.temporalP?.catch(() => undefined);
    await Promise.allSettled([orm?.close(), t?.connection.close(), this.esC?.close()]);
  }
}

/** The password is nobody's business in an error message. */
export const redact = (url: string) => url.replace(/\/\/([^:/@]+):[^@]*@/, '//$1:***@');

/** "3d 4h", "12m 5s", "800ms": durations an operator reads at a glance. */
export function duration(ms: number): string {
  const sign = ms < 0 ? '-' : '';
  const abs = Math.abs(Math.round(ms));
  if (abs < 1000) return `${sign}${abs}ms`;
  const units = [['d', 86_400_000], ['h', 3_600_000], ['m', 60_000], ['s', 1000]] as const;
  const i = units.findIndex(([, size]) => abs >= size);
  const [u1, s1] = units[i];
  const first = Math.floor(abs / s1);
  const next = units[i + 1];
  const second = next ? Math.floor((abs - first * s1) / next[1]) : 0;
  return `${sign}${first}${u1}${second ? ` ${second}${next![0]}` : ''}`;
}

/** A plain text table: columns as wide as their widest cell (CJK counts double), no borders. */
export function table(header: string[], rows: string[][]): string {
  const width = (s: string) => [...s].reduce((n, c) => n + (/[\u1100-\u115f\u2e80-\ua4cf\uac00-\ud7a3\uf900-\ufaff\uff00-\uff60\uffe0-\uffe6]/.test(c) ? 2 : 1), 0);
  const widths = header.map((h, i) => Math.max(width(h), ...rows.map((r) => width(r[i] ?? ''))));
  const line = (cells: string[]) => cells.map((c, i) => (i === cells.length - 1 ? c : c + ' '.repeat(widths[i] - width(c)))).join('  ').trimEnd();
  return [line(header), ...rows.map(line)].join('\n');
}

export const iso = (d: Date | string | null | undefined): string => (d ? new Date(d).toISOString() : '');

export function printJson(value: unknown): void {
  process.stdout.write(`${JSON.stringify(value, null, 2)}\n`);
}
