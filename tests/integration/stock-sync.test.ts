// A pharmacy's stock update API, and the outbox that carries stock changes into the search projection
// (triggers queue the pharmacy when a SKU comes into or goes out of stock; the worker's sync loop
// re-indexes it). Prices and quantities are not projected: matching reads them live from PostgreSQL.
import { Client as EsClient } from '@elastic/elasticsearch';
import { loadConfig } from '../../engine/config';
import { stockAlias } from '../../catalog/indices';
import { matchPharmacies, type StockDoc } from '../../catalog/queries';
import { shelfReader } from '../../catalog/shelf';
import { minuteOfDay } from '../../domain/matching';
import { actors, apiUrl, closeDb, rolledBack, sql, stockOf } from './helpers';

const config = loadConfig();
const es = new EsClient({ node: config.elasticsearchUrl });
afterAll(async () => { await es.close(); await closeDb(); });

async function projected(pharmacy: string, until: (d: StockDoc) => boolean, ms = 15_000): Promise<StockDoc> {
  const end = Date.now() + ms;
  let doc: StockDoc | undefined;
  while (Date.now() < end) {
    doc = (await es.get<StockDoc>({ index: stockAlias(config.indexPrefix), id: pharmacy }))._source;
    if (doc && until(doc)) return doc;
    await new Promise((r) => setTimeout(r, 100));
  }
  throw new Error(`projection of ${pharmacy} did not catch up: ${JSON.stringify(doc?.drugCodes)}`);
}

describe('pharmacy stock updates', () => {
  it('updates stock and prices by SKU and the search projection follows', async () => {
    const ph = actors().pharmacy('PH007');
    const r = await ph.call('PUT', '/v1/pharmacy/stock', { items: [{ drugCode: 'RX0001', onHand: 77, priceFen: 1234 }, { drugCode: 'RX0002', onHand: 0, priceFen: 999 }] });
    expect(r.status).toBe(200);
    expect(r.body).toEqual({ updated: 2 });
    const doc = await projected('PH007', (d) => !d.drugCodes.includes('RX0002')); // none left: not offered for it
    expect(doc.drugCodes).toContain('RX0001');
    // The new price and quantity count at once, whatever the projection's lag: they are read from stock.
    const { reserved } = await stockOf('PH007', 'RX0001');
    const [at] = await sql(`select lat, lng from pharmacy where code = 'PH007'`);
    const shelves = shelfReader((q, p) => sql(q, p));
    const candidates = await matchPharmacies(es, config.indexPrefix, {
      lines: [{ drugCode: 'RX0001', quantity: 2 }], near: { lat: at.lat, lng: at.lng }, radiusKm: 1, needsColdChain: false, openAtMinute: minuteOfDay('10:30'), mode: 'pickup',
    }, shelves);
    const here = candidates.find((c) => c.pharmacyCode === 'PH007');
    expect(here).toMatchObject({ totalPriceFen: 2 * 1234, stockMargin: (77 - reserved) / 2 });
    const health: any = await fetch(`${apiUrl()}/health`).then((x) => x.json());
    expect(health.searchSync).toEqual({ queued: expect.any(Number), oldestMs: expect.any(Number) });
  });

  it('refuses a batch that would set on hand below what is reserved, changing nothing', async () => {
    const ph = actors().pharmacy('PH008');
    await sql(`update stock s set on_hand = 10, reserved = 4 from pharmacy p where p.id = s.pharmacy_id and p.code = 'PH008' and s.drug_code = 'RX0001'`);
    const before = await stockOf('PH008', 'RX0043');
    try {
      const r = await ph.call('PUT', '/v1/pharmacy/stock', { items: [{ drugCode: 'RX0043', onHand: 50, priceFen: 100 }, { drugCode: 'RX0001', onHand: 3, priceFen: 100 }] });
      expect(r.status).toBe(409);
      expect(r.body.error).toMatchObject({ code: 'BELOW_RESERVED', details: [{ path: '$.items[1].onHand', message: 'RX0001' }] });
      expect(await stockOf('PH008', 'RX0043')).toEqual(before);
      expect(await stockOf('PH008', 'RX0001')).toEqual({ on_hand: 10, reserved: 4 });
    } finally {
      await sql(`update stock s set reserved = 0 from pharmacy p where p.id = s.pharmacy_id and p.code = 'PH008' and s.drug_code = 'RX0001'`);
    }
  });

  it('names unknown drugs and keeps stock to pharmacies', async () => {
    const a = actors();
    const r = await a.pharmacy('PH007').call('PUT', '/v1/pharmacy/stock', { items: [{ drugCode: 'NOPE', onHand: 1, priceFen: 1 }] });
    expect(r.status).toBe(422);
    expect(r.body.error.details).toEqual([{ path: '$.items[0].drugCode', message: 'NOPE' }]);
    expect((await a.hospital.call('PUT', '/v1/pharmacy/stock', { items: [{ drugCode: 'RX0001', onHand: 1, priceFen: 1 }] })).status).toBe(403);
  });

  it('queues a pharmacy for re-indexing, in the same transaction, when a SKU comes into or goes out of stock', async () => {
    const queued = async (run: (q: string, p?: unknown[]) => Promise<any[]>) =>
      (await run(`select 1 from search_sync_queue where pharmacy_id = (select id from pharmacy where code = 'PH009')`)).length > 0;
    const row = `from pharmacy p where p.id = s.pharmacy_id and p.code = 'PH009' and s.drug_code = 'RX0001'`;
    // Each case in its own rolled-back transaction, so the sync loop cannot drain the queue in between.
    await rolledBack(async (run) => {
      await run(`delete from search_sync_queue where pharmacy_id = (select id from pharmacy where code = 'PH009')`);
      await run(`update stock s set price_fen = price_fen + 1, on_hand = on_hand + 1 ${row}`);
      expect(await queued(run)).toBe(false); // still in stock: nothing the search document shows has changed
      await run(`update stock s set on_hand = reserved ${row}`);
      expect(await queued(run)).toBe(true); // sold out: the document must drop it
    });
    await sql(`update stock s set on_hand = reserved ${row}`);
    try {
      await projected('PH009', (d) => !d.drugCodes.includes('RX0001'));
    } finally {
      await sql(`update stock s set on_hand = reserved + 50 ${row}`);
    }
    await projected('PH009', (d) => d.drugCodes.includes('RX0001'));
  });
});
