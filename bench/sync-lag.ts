// Measures how far the Elasticsearch stock projection trails PostgreSQL: sells SKUs out at a fixed rate
// (as pharmacies' ERPs would report), and times each change from its commit until the pharmacy's search
// document no longer offers the SKU (the projection carries what is in stock, not prices or quantities).
// The stock is put back afterwards. Needs a running engine (its worker drains the outbox): ./rx up, then
//   node --import tsx bench/sync-lag.ts [--rate 50] [--seconds 10]
import { Client as EsClient } from '@elastic/elasticsearch';
import { openOrm } from '../db/orm';
import { loadConfig } from '../engine/config';
import { stockAlias } from '../catalog/indices';
import type { StockDoc } from '../catalog/queries';
import { cliArgs } from './lib/args';

const { get } = cliArgs();
const arg = (name: string, fallback: number) => Number(get(name, String(fallback)));

async function main() {
  const config = loadConfig();
  const rate = arg('rate', 50);
  const seconds = arg('seconds', 10);
  const orm = await openOrm(config.databaseUrl);
  const es = new EsClient({ node: config.elasticsearchUrl });
  const sql = (q: string, p: unknown[] = []): Promise<any[]> => orm.em.fork().getConnection().execute(q, p);
  const rows: { code: string; drug_code: string; on_hand: number }[] = await sql(
    `select p.code, s.drug_code, s.on_hand from stock s join pharmacy p on p.id = s.pharmacy_id where s.on_hand - s.reserved > 0 order by random() limit ?`, [rate * seconds]);

  const pending = new Map<string, { code: string; drug: string; committed: number }>();
  const lags: number[] = [];
  let done = false;
  const watcher = (async () => {
    while (!done || pending.size) {
      const ids = [...new Set([...pending.values()].map((p) => p.code))];
      if (ids.length) {
        const res = await es.mget<StockDoc>({ index: stockAlias(config.indexPrefix), ids });
        const now = Date.now();
        for (const d of res.docs) {
          const doc = '_source' in d ? d._source : undefined;
          if (!doc) continue;
          for (const [key, p] of pending) {
            if (p.code === doc.code && !doc.drugCodes.includes(p.drug)) { lags.push(now - p.committed); pending.delete(key); }
          }
        }
      }
      await new Promise((r) => setTimeout(r, 10));
    }
  })();

  const start = Date.now();
  for (let i = 0; i < rows.length; i++) {
    const due = start + (i * 1000) / rate;
    if (due > Date.now()) await new Promise((r) => setTimeout(r, due - Date.now()));
    const r = rows[i];
    await sql(`update stock s set on_hand = s.reserved from pharmacy p where p.id = s.pharmacy_id and p.code = ? and s.drug_code = ?`, [r.code, r.drug_code]);
    pending.set(`${r.code}/${r.drug_code}`, { code: r.code, drug: r.drug_code, committed: Date.now() });
  }
  done = true;
  await Promise.race([watcher, new Promise((r) => setTimeout(r, 30_000))]);
  for (const r of rows) {
    await sql(`update stock s set on_hand = greatest(?, s.reserved) from pharmacy p where p.id = s.pharmacy_id and p.code = ? and s.drug_code = ?`, [r.on_hand, r.code, r.drug_code]);
  }
  lags.sort((a, b) => a - b);
  const pct = (p: number) => lags[Math.min(lags.length - 1, Math.floor((p / 100) * lags.length))];
  console.log(JSON.stringify({
    at: new Date().toISOString(), changes: rows.length, seen: lags.length, rate, seconds, syncIntervalMs: config.searchSyncIntervalMs,
    lagMs: { p50: pct(50), p95: pct(95), p99: pct(99), max: lags.at(-1) },
  }, null, 2));
  await es.close();
  await orm.close();
}

main().catch((e) => { console.error(e); process.exit(1); });
