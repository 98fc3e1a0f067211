import { Migration } from '@mikro-orm/migrations';

// Incremental catalogue sync (catalog/loader.ts): a watermark per Elasticsearch target (the concrete
// index behind an alias: a rebuilt or recreated index starts over), and the change times it compares
// against. Pharmacies get an updated_at, kept current by a trigger so that every
// writer (the seed's upsert, the bulk loader, hand edits) moves it when a row really changes; stock
// already has one, indexed here because the incremental run selects by it.
export class Migration20261123150000_catalog_sync extends Migration {
  override async up(): Promise<void> {
    this.addSql(`create table "catalog_sync_state" ("name" text not null, "watermark" timestamptz not null, "updated_at" timestamptz not null default now(), constraint "catalog_sync_state_pkey" primary key ("name"));`);

    this.addSql(`alter table "pharmacy" add column "updated_at" timestamptz not null default now();`);
    this.addSql(`create function pharmacy_touch_updated_at() returns trigger language plpgsql as $$
      begin
        if new.updated_at is not distinct from old.updated_at then new.updated_at := now(); end if;
        return new;
      end $$;`);
    this.addSql(`create trigger pharmacy_touch_updated_at before update on "pharmacy"
      for each row when (old.* is distinct from new.*) execute function pharmacy_touch_updated_at();`);
    this.addSql(`create index "pharmacy_updated_at_index" on "pharmacy" ("updated_at");`);

    this.addSql(`create index "stock_updated_at_index" on "stock" ("updated_at");`);
  }
}
