// Rebuilding a catalogue index behind its alias: fill a new versioned index, then move the alias in one
// atomic update, then drop the old index. Searches keep hitting the old index until the swap and the
// new one right after it; none fails. Engine start-up rebuilds any index whose mappings changed.
import type { Client } from '@elastic/elasticsearch';
import type { EntityManager } from '@mikro-orm/postgresql';
import {
  DRUG_MAPPINGS, STOCK_MAPPINGS, aliasIsCurrent, aliasTargets, createVersionedIndex, drugAlias, ensureIndex, stockAlias,
} from './indices';
import { drugDocument, indexInto, stockDocuments } from './ingest';
import type { Drug } from '../domain/types';

export async function rebuildIndex(es: Client, alias: string, mappings: object, fill: (index: string) => Promise<void>): Promise<string> {
  const old = await aliasTargets(es, alias);
  const index = await createVersionedIndex(es, alias, mappings);
  try {
    await fill(index);
    await es.indices.refresh({ index });
  } catch (e) {
    await es.indices.delete({ index }, { ignore: [404] });
    throw e;
  }
  await es.indices.updateAliases({
    actions: [...old.map((i) => ({ remove: { index: i, alias } })), { add: { index, alias } }],
  });
  if (old.length) await es.indices.delete({ index: old }, { ignore: [404] });
  return index;
}

const PHARMACY_BATCH = 200;

/** Documents written so far of one rebuild (the operator's CLI draws it as a progress bar). */
export type ReindexProgress = (which: 'drugs' | 'stock', done: number, total: number) => void;

/** Re-reads the catalogue from PostgreSQL (the source of truth) into fresh indices behind the aliases. */
export async function rebuildCatalogIndices(es: Client, prefix: string, em: EntityManager, which: ('drugs' | 'stock')[] = ['drugs', 'stock'], progress?: ReindexProgress): Promise<void> {
  const knex = em.getKnex();
  if (which.includes('drugs')) {
    await rebuildIndex(es, drugAlias(prefix), DRUG_MAPPINGS, async (index) => {
      const rows: { data: Drug }[] = await knex('drug').select('data').orderBy('code');
      progress?.('drugs', 0, rows.length);
      await indexInto(es, index, rows.map((r) => drugDocument(r.data)), (d) => d.code);
      progress?.('drugs', rows.length, rows.length);
    });
  }
  if (which.includes('stock')) {
    await rebuildIndex(es, stockAlias(prefix), STOCK_MAPPINGS, async (index) => {
      const ids: string[] = (await knex('pharmacy').select('id').orderBy('code')).map((r: { id: string }) => r.id);
      progress?.('stock', 0, ids.length);
      for (let i = 0; i < ids.length; i += PHARMACY_BATCH) {
        await indexInto(es, index, await stockDocuments(em, ids.slice(i, i + PHARMACY_BATCH)), (d) => d.code);
        progress?.('stock', Math.min(i + PHARMACY_BATCH, ids.length), ids.length);
      }
    });
  }
}

/** Start-up: create missing indices; rebuild from PostgreSQL any whose mappings are not the current ones. */
export async function ensureCurrentIndices(es: Client, prefix: string, em: EntityManager): Promise<void> {
  const stale: ('drugs' | 'stock')[] = [];
  for (const [name, alias, mappings] of [['drugs', drugAlias(prefix), DRUG_MAPPINGS], ['stock', stockAlias(prefix), STOCK_MAPPINGS]] as const) {
    if ((await aliasTargets(es, alias)).length === 0) await ensureIndex(es, alias, mappings);
    else if (!(await aliasIsCurrent(es, alias, mappings))) stale.push(name);
  }
  if (stale.length) await rebuildCatalogIndices(es, prefix, em, stale);
}
