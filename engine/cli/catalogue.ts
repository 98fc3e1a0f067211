// `rxflow seed` and `rxflow reindex`: the database and the catalogue, with progress on a terminal and a
// summary at the end. Both reuse the engine's own code (engine/seed.ts, catalog/reindex.ts), so what the
// CLI does is what the engine and the tests do.
import type { EntityManager } from '@mikro-orm/postgresql';
import { aliasTargets, drugAlias, stockAlias } from '../../catalog/indices';
import { progressOn, type ProgressBar } from '../../catalog/loader';
import { ensureCurrentIndices, rebuildCatalogIndices } from '../../catalog/reindex';
import { seedAll } from '../seed';
import { openServices } from '../runtime';
import { EXIT, UsageError, duration, parse, printJson, redact, type Command, type Ctx } from './common';

const SEED_HELP = `usage: rxflow seed [--quiet] [--json]

Prepares a database and the catalogue indices for the engine, idempotently (safe to run again):
  1. applies pending migrations (db/migrations) to DATABASE_URL
  2. creates missing catalogue indices and rebuilds any whose mappings changed (behind their aliases)
  3. loads the demo catalogue (drugs, pharmacies, stock) into PostgreSQL and Elasticsearch
     (RX_INDEX_PREFIX) and the demo parties (hospital, pharmacists, pharmacies, couriers, operator keys)
Progress goes to stderr (a bar on a terminal), the summary to stdout.

  --quiet          no progress
  --json           the summary as JSON

example:
  DATABASE_URL=postgres://rxflow:rxflow@127.0.0.1:55432/rxflow rxflow seed`;

export const seedCommand: Command = {
  name: 'seed',
  help: SEED_HELP,
  async run(args, ctx) {
    const { values: v } = parse(args, { quiet: { type: 'boolean' }, json: { type: 'boolean' } }, { min: 0, max: 0, names: '' });
    const started = Date.now();
    const bar = progressOn(v.quiet ? null : process.stderr)('seed', 3);
    // openServices migrates and brings the indices up to date, as the engine does at start-up.
    const before = await countMigrations(ctx);
    const services = await openServices(ctx.config);
    try {
      bar.set(2);
      const counts = await seedAll(services);
      bar.set(3);
      bar.done();
      const after = await countMigrations(ctx);
      const summary = {
        database: redact(ctx.config.databaseUrl), indexPrefix: ctx.config.indexPrefix,
        migrationsApplied: after - before, migrationsTotal: after, ...counts, ms: Date.now() - started,
      };
      if (v.json) printJson(summary);
      else process.stdout.write(`seeded in ${duration(summary.ms)}: ${summary.migrationsApplied} migration(s) applied (${summary.migrationsTotal} in all); `
        + `${counts.drugs} drugs, ${counts.pharmacies} pharmacies, ${counts.stockRows} stock rows indexed under ${summary.indexPrefix}-*; demo parties loaded\n`);
      return EXIT.ok;
    } finally {
      await services.close();
    }
  },
};

/** Migrations recorded as applied (MikroORM's table); 0 on an empty database. */
async function countMigrations(ctx: Ctx): Promise<number> {
  const [t] = await ctx.sql(`select to_regclass('public.mikro_orm_migrations') as t`);
  if (!t.t) return 0;
  const [r] = await ctx.sql(`select count(*) as n from mikro_orm_migrations`);
  return Number(r.n);
}

const REINDEX_HELP = `usage: rxflow reindex [drugs|stock] [--quiet] [--json]

Rebuilds a catalogue index from PostgreSQL (the source of truth) with no downtime: a new versioned index is
filled and refreshed, then the alias (<RX_INDEX_PREFIX>-drugs, <RX_INDEX_PREFIX>-pharmacy-stock) moves to it
in one atomic update and the old index is dropped. Searches hit the old index until the swap and the new
one after it; none fails. Without an argument both are rebuilt. Progress goes to stderr.

  --quiet          no progress
  --json           the summary as JSON: per index the old and new index names, documents, time

examples:
  rxflow reindex stock
  rxflow reindex --json`;

export const reindexCommand: Command = {
  name: 'reindex',
  help: REINDEX_HELP,
  async run(args, ctx) {
    const { values: v, positionals } = parse(args, { quiet: { type: 'boolean' }, json: { type: 'boolean' } }, { min: 0, max: 1, names: '' });
    const which = positionals[0];
    if (which !== undefined && which !== 'drugs' && which !== 'stock') throw new UsageError(`reindex takes drugs or stock, not "${which}"`);
    const targets: ('drugs' | 'stock')[] = which ? [which] : ['drugs', 'stock'];
    const es = await ctx.es();
    const em = (await ctx.orm()).em.fork() as EntityManager;
    const prefix = ctx.config.indexPrefix;
    const aliases = { drugs: drugAlias(prefix), stock: stockAlias(prefix) };
    // A database migrated but never indexed gets its indices first, as at engine start-up.
    await ensureCurrentIndices(es, prefix, em);

    const sink = progressOn(v.quiet ? null : process.stderr);
    const summary: { index: 'drugs' | 'stock'; alias: string; from: string[]; to: string; documents: number; ms: number }[] = [];
    for (const t of targets) {
      const from = await aliasTargets(es, aliases[t]);
      const started = Date.now();
      let bar: ProgressBar | undefined;
      await rebuildCatalogIndices(es, prefix, em, [t], (_which, done, total) => {
        bar ??= sink(`reindex ${t}${t === 'stock' ? ' (pharmacies)' : ''}`, total);
        bar.set(done);
      });
      bar?.done();
      const to = await aliasTargets(es, aliases[t]);
      const { count } = await es.count({ index: aliases[t] });
      summary.push({ index: t, alias: aliases[t], from, to: to.join(','), documents: count, ms: Date.now() - started });
    }
    if (v.json) printJson({ prefix, indices: summary });
    else for (const s of summary) process.stdout.write(`${s.alias}: ${s.from.join(',') || '(none)'} → ${s.to}, ${s.documents} documents, ${duration(s.ms)}\n`);
    return EXIT.ok;
  },
};
