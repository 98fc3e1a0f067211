// Keeps the Elasticsearch stock projection in step with PostgreSQL: drains the search_sync_queue outbox
// (filled by triggers on stock and pharmacy), rebuilding each queued pharmacy's document. A batch is
// removed from the queue only when Elasticsearch has taken it; several workers share the queue safely.
import type { Client } from '@elastic/elasticsearch';
import type { MikroORM, EntityManager } from '@mikro-orm/postgresql';
import { indexStock, stockDocuments } from './ingest';

export interface SyncBatch { synced: number; maxLagMs: number }

export async function syncQueuedPharmacies(orm: MikroORM, es: Client, prefix: string, batch = 200): Promise<SyncBatch> {
  const em = orm.em.fork() as EntityManager;
  // Mostly empty (a pharmacy is queued only when a SKU sells out or comes back): a look without a
  // transaction is one round trip where BEGIN, the locking delete and COMMIT were three, every poll.
  const [{ queued }] = await em.getConnection().execute<{ queued: boolean }[]>(`select exists (select 1 from search_sync_queue) as queued`);
  if (!queued) return { synced: 0, maxLagMs: 0 };
  return em.getKnex().transaction(async (trx) => {
    const { rows } = await trx.raw<{ rows: { pharmacy_id: string; enqueued_at: Date }[] }>(
      `delete from search_sync_queue where pharmacy_id in (
         select pharmacy_id from search_sync_queue order by enqueued_at limit ? for update skip locked)
       returning pharmacy_id, enqueued_at`, [batch]);
    if (rows.length === 0) return { synced: 0, maxLagMs: 0 };
    // Read the pharmacies' current state after taking them off the queue: a change committed meanwhile
    // queues them again and is picked up by the next batch.
    await indexStock(es, prefix, await stockDocuments(em, rows.map((r) => r.pharmacy_id)));
    const oldest = Math.min(...rows.map((r) => new Date(r.enqueued_at).getTime()));
    return { synced: rows.length, maxLagMs: Date.now() - oldest };
  });
}

export interface SyncLoop { stop(): Promise<void>; stats: { batches: number; synced: number; lastLagMs: number; lastError: string | null } }

/** Polls the outbox; a full batch is followed at once by the next. */
export function startSearchSync(orm: MikroORM, es: Client, prefix: string, intervalMs = 250): SyncLoop {
  const stats = { batches: 0, synced: 0, lastLagMs: 0, lastError: null as string | null };
  let stopped = false;
  let wake: (() => void) | undefined;
  const loop = (async () => {
    while (!stopped) {
      let full = false;
      try {
        const r = await syncQueuedPharmacies(orm, es, prefix);
        if (r.synced) { stats.batches += 1; stats.synced += r.synced; stats.lastLagMs = r.maxLagMs; }
        full = r.synced === 200;
        stats.lastError = null;
      } catch (e) {
        stats.lastError = (e as Error).message; // Elasticsearch or PostgreSQL away: the queue keeps it all
      }
      if (!full && !stopped) await new Promise<void>((res) => { wake = res; setTimeout(res, intervalMs); });
    }
  })();
  return { stats, async stop() { stopped = true; wake?.(); await loop; } };
}

/** How far the projection trails PostgreSQL: pharmacies queued, and the age of the oldest change. */
export async function outboxState(orm: MikroORM): Promise<{ queued: number; oldestMs: number }> {
  const [row] = await orm.em.fork().getConnection().execute(
    `select count(*)::int as queued, coalesce(extract(epoch from clock_timestamp() - min(enqueued_at)) * 1000, 0)::int as "oldestMs" from search_sync_queue`);
  return { queued: row.queued, oldestMs: row.oldestMs };
}
