import { Migration } from '@mikro-orm/migrations';

// The search projection no longer carries prices and quantities (they are read from `stock` itself at
// match time), so it changes only when a SKU comes into or goes out of stock at a pharmacy: the outbox
// trigger queues just those changes, not every reservation or price edit. And a substitution key is
// looked up by an index, to read the SKUs a substitutable line may take.
export class Migration20261124000000_lean_stock_projection extends Migration {
  override async up(): Promise<void> {
    // The same key as domain/matching.ts substitutionKey: generic name | strength | dosage form.
    this.addSql(`create function drug_substitution_key(data jsonb) returns text language sql immutable parallel safe as $$
      select (data->>'genericNameZh') || '|' || trim(split_part(data->>'spec', '×', 1)) || '|' || (data->>'dosageForm') $$;`);
    this.addSql(`create index "drug_substitution_key_index" on "drug" (drug_substitution_key(data));`);
    this.addSql(`create or replace function queue_stock_sync() returns trigger language plpgsql as $$
      begin
        if tg_op = 'UPDATE' and ((old.on_hand - old.reserved > 0) = (new.on_hand - new.reserved > 0)) then return null; end if;
        if tg_op = 'INSERT' and new.on_hand - new.reserved <= 0 then return null; end if;
        if tg_op = 'DELETE' and old.on_hand - old.reserved <= 0 then return null; end if;
        insert into search_sync_queue (pharmacy_id) values (case when tg_op = 'DELETE' then old.pharmacy_id else new.pharmacy_id end)
          on conflict (pharmacy_id) do nothing;
        return null;
      end $$;`);
  }
}
