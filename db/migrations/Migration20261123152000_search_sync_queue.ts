import { Migration } from '@mikro-orm/migrations';

// A transactional outbox for the search projection: any change to a pharmacy or its stock queues the
// pharmacy, in the same transaction, by trigger, so no code path can forget it. The worker drains the
// queue into Elasticsearch (catalog/sync.ts). One row per pharmacy: the oldest unsynced change's time.
export class Migration20261123152000_search_sync_queue extends Migration {
  override async up(): Promise<void> {
    this.addSql(`create table "search_sync_queue" ("pharmacy_id" uuid not null primary key, "enqueued_at" timestamptz not null default clock_timestamp());`);
    this.addSql(`create index "search_sync_queue_enqueued_at_index" on "search_sync_queue" ("enqueued_at");`);
    // Two functions: plpgsql resolves every field a function names, and the rows differ.
    this.addSql(`create function queue_stock_sync() returns trigger language plpgsql as $$
      begin
        insert into search_sync_queue (pharmacy_id) values (case when tg_op = 'DELETE' then old.pharmacy_id else new.pharmacy_id end)
          on conflict (pharmacy_id) do nothing;
        return null;
      end $$;`);
    this.addSql(`create function queue_pharmacy_sync() returns trigger language plpgsql as $$
      begin
        insert into search_sync_queue (pharmacy_id) values (new.id) on conflict (pharmacy_id) do nothing;
        return null;
      end $$;`);
    this.addSql(`create trigger stock_queue_sync after insert or update or delete on "stock" for each row execute function queue_stock_sync();`);
    this.addSql(`create trigger pharmacy_queue_sync after insert or update on "pharmacy" for each row execute function queue_pharmacy_sync();`);
  }
}
