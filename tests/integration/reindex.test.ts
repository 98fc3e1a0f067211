// Re-indexing behind the alias: searches running throughout never fail and never come back empty.
import { Client as EsClient } from '@elastic/elasticsearch';
import type { EntityManager } from '@mikro-orm/postgresql';
import { openOrm } from '../../db/orm';
import { loadConfig } from '../../engine/config';
import { aliasTargets, drugAlias, stockAlias } from '../../catalog/indices';
import { rebuildCatalogIndices } from '../../catalog/reindex';
import { matchPharmacies, searchDrugs } from '../../catalog/queries';
import { shelfReader } from '../../catalog/shelf';
import { minuteOfDay } from '../../domain/matching';
import { applyTestEnv } from './env';

applyTestEnv();
const config = loadConfig();

it('rebuilds both catalogue indices behind their aliases without losing a query', async () => {
  const es = new EsClient({ node: config.elasticsearchUrl });
  const orm = await openOrm(config.databaseUrl);
  try {
    const shelves = shelfReader((q, p) => orm.em.fork().getConnection().execute(q, p));
    const before = { drugs: await aliasTargets(es, drugAlias(config.indexPrefix)), stock: await aliasTargets(es, stockAlias(config.indexPrefix)) };
    let running = true;
    const outcomes: { ok: boolean; hits: number; error?: string }[] = [];
    const searcher = (async () => {
      while (running) {
        try {
          const [drugs, pharmacies] = await Promise.all([
            searchDrugs(es, config.indexPrefix, { q: '布洛芬' }),
            matchPharmacies(es, config.indexPrefix, { lines: [{ drugCode: 'RX0001', quantity: 1 }], near: { lat: 30.2788, lng: 120.1325 }, radiusKm: 10, needsColdChain: false, openAtMinute: minuteOfDay('10:30') }, shelves),
          ]);
          outcomes.push({ ok: true, hits: Math.min(drugs.hits.length, pharmacies.length) });
        } catch (e) {
          outcomes.push({ ok: false, hits: 0, error: (e as Error).message });
        }
      }
    })();
    for (let i = 0; i < 2; i++) await rebuildCatalogIndices(es, config.indexPrefix, orm.em.fork() as EntityManager);
    running = false;
    await searcher;

    expect(outcomes.length).toBeGreaterThan(10);
    expect(outcomes.filter((o) => !o.ok)).toEqual([]);
    expect(outcomes.filter((o) => o.hits === 0)).toEqual([]);
    const after = { drugs: await aliasTargets(es, drugAlias(config.indexPrefix)), stock: await aliasTargets(es, stockAlias(config.indexPrefix)) };
    expect(after.drugs).toHaveLength(1);
    expect(after.drugs[0]).not.toBe(before.drugs[0]);
    expect(after.stock[0]).not.toBe(before.stock[0]);
    // The indices that were swapped out are gone.
    expect(await es.indices.exists({ index: [...before.drugs, ...before.stock] })).toBe(false);
  } finally {
    await orm.close();
    await es.close();
  }
});
