// A pharmacy's stock update API, and the outbox that carries every stock change into the search
// projection (triggers queue the pharmacy; the worker's sync loop re-indexes it).
import { Client as EsClient } from '@elastic/elasticsearch';
import { loadConfig } from '../../engine/config';
import { stockAlias } from '../../catalog/indices';
import type { StockDoc } from '../../catalog/queries';
import { actors, apiUrl, closeDb, sql, stockOf } from './helpers';

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
  throw new Error(`projection of ${pharmacy} did not catch up: ${JSON.stringify(doc?.prices)}`);
}

describe('pharmacy stock updates', () => {
  it('updates stock and prices by SKU and the search projection follows', async () => {
    const ph = actors().pharmacy('PH007');
    const r = await ph.call('PUT', '/v1/pharmacy/stock', { items: [{ drugCode: 'RX0001', onHand: 77, priceFen: 1234 }, { drugCode: 'RX0002', onHand: 0, priceFen: 999 }] });
    expect(r.status).toBe(200);
    expect(r.body).toEqual({ updated: 2 });
    const { reserved } = await stockOf('PH007', 'RX0001');
    const doc = await projected('PH007', (d) => d.prices.RX0001 === 1234);
    expect(doc.available.RX0001).toBe(77 - reserved);
    expect(doc.drugCodes).not.toContain('RX0002'); // none left: not offered for it
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

  it('queues a pharmacy for re-indexing whenever its stock changes, in the same transaction', async () => {
    await sql(`delete from search_sync_queue where pharmacy_id = (select id from pharmacy where code = 'PH009')`);
    await sql(`update stock s set price_fen = price_fen + 1 from pharmacy p where p.id = s.pharmacy_id and p.code = 'PH009' and s.drug_code = 'RX0001'`);
    const [{ price_fen }] = await sql(`select price_fen from stock s join pharmacy p on p.id = s.pharmacy_id where p.code = 'PH009' and s.drug_code = 'RX0001'`);
    await projected('PH009', (d) => d.prices.RX0001 === price_fen);
  });
});
