import { Migration } from '@mikro-orm/migrations';

// A tamper-evident audit trail (docs/audit.md). Every audit_event carries
//   hash    = sha256(previous global hash || canonical(event))        one chain over all events
//   rx_hash = sha256(previous hash of its prescription || canonical(event))  one per prescription
// computed by a BEFORE INSERT trigger, so every writer (the ORM, raw SQL in reports and tests) is chained
// the same way. canonical(event) covers a digest of `data`, not `data` itself: erasing personal data in
// `data` (the only UPDATE the table allows) leaves every hash verifiable. Appends serialise on the
// global head row (locked FOR UPDATE until commit); the lock order is always the prescription's row,
// then the global head, then the prescription's head, so two writers never wait on each other in
// opposite orders (docs/audit.md). Existing rows are chained in id order.
//
// The canonical form is canonicalJson (domain/canonical.ts) of an object of strings and nulls, written
// out here key by key in sorted order; domain/audit-chain.ts builds the same bytes in TypeScript and the
// verifier (engine/audit-verify.ts) recomputes every hash from the stored fields.
export class Migration20261124100000_audit_chain extends Migration {
  override async up(): Promise<void> {
    this.addSql(`alter table "audit_event"
      add column "actor_ip" varchar(64) null,
      add column "actor_agent" varchar(300) null,
      add column "data_digest" char(64) null,
      add column "global_seq" bigint null,
      add column "rx_seq" integer null,
      add column "hash" char(64) null,
      add column "rx_hash" char(64) null,
      add column "data_erased_at" timestamptz null;`);
    this.addSql(`create table "audit_chain_head" ("chain_id" varchar(64) not null, "seq" bigint not null, "hash" char(64) not null,
      "updated_at" timestamptz not null default now(), constraint "audit_chain_head_pkey" primary key ("chain_id"));`);

    this.addSql(`create function audit_event_canonical(e audit_event) returns text language sql stable as $$
      select '{"action":' || coalesce(to_json(e.action::text)::text, 'null')
        || ',"actor":' || coalesce(to_json(e.actor::text)::text, 'null')
        || ',"actorAgent":' || coalesce(to_json(e.actor_agent::text)::text, 'null')
        || ',"actorIp":' || coalesce(to_json(e.actor_ip::text)::text, 'null')
        || ',"at":' || to_json(to_char(e.at at time zone 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.US"Z"'))::text
        || ',"dataDigest":' || coalesce(to_json(e.data_digest::text)::text, 'null')
        || ',"fromStatus":' || coalesce(to_json(e.from_status::text)::text, 'null')
        || ',"globalSeq":' || coalesce(to_json(e.global_seq::text)::text, 'null')
        || ',"id":' || to_json(e.id::text)::text
        || ',"prescriptionId":' || coalesce(to_json(e.prescription_id::text)::text, 'null')
        || ',"rxSeq":' || coalesce(to_json(e.rx_seq::text)::text, 'null')
        || ',"toStatus":' || coalesce(to_json(e.to_status::text)::text, 'null')
        || '}'
    $$;`);
    this.addSql(`create function audit_sha256(t text) returns char(64) language sql immutable as $$
      select encode(sha256(convert_to(t, 'UTF8')), 'hex')::char(64) $$;`);

    // ---- backfill: digests, positions, then the hashes in id order (the trigger refuses updates meanwhile) ----
    this.addSql(`alter table "audit_event" disable trigger "audit_event_no_update";`);
    this.addSql(`update "audit_event" a set data_digest = audit_sha256(a.data::text), global_seq = s.gs, rx_seq = s.rs
      from (select id, row_number() over (order by id) as gs,
                   case when prescription_id is null then null else row_number() over (partition by prescription_id order by id) end as rs
              from "audit_event") s
      where a.id = s.id;`);
    this.addSql(`do $$
      declare
        e audit_event;
        g text := repeat('0', 64);
        canon text;
        r text;
      begin
        create temporary table _audit_heads (chain_id text primary key, hash text not null) on commit drop;
        for e in select * from audit_event order by global_seq loop
          canon := audit_event_canonical(e);
          g := audit_sha256(g || canon);
          if e.prescription_id is null then
            update audit_event set hash = g where id = e.id;
          else
            select hash into r from _audit_heads where chain_id = e.prescription_id::text;
            r := audit_sha256(coalesce(r, repeat('0', 64)) || canon);
            insert into _audit_heads values (e.prescription_id::text, r) on conflict (chain_id) do update set hash = excluded.hash;
            update audit_event set hash = g, rx_hash = r where id = e.id;
          end if;
        end loop;
      end $$;`);
    // The backfill queued the deferred foreign-key checks of every updated row; run them now, or
    // Postgres refuses to alter a table with pending trigger events (an upgrade of a database with data).
    this.addSql(`set constraints all immediate;`);
    this.addSql(`alter table "audit_event" enable trigger "audit_event_no_update";`);
    this.addSql(`insert into "audit_chain_head" (chain_id, seq, hash)
      select 'global', coalesce(max(global_seq), 0), coalesce((select hash from audit_event order by global_seq desc limit 1), repeat('0', 64)) from audit_event;`);
    this.addSql(`insert into "audit_chain_head" (chain_id, seq, hash)
      select distinct on (prescription_id) prescription_id::text, rx_seq, rx_hash from audit_event
       where prescription_id is not null order by prescription_id, rx_seq desc;`);
    this.addSql(`alter table "audit_event" alter column "data_digest" set not null, alter column "global_seq" set not null, alter column "hash" set not null;`);
    this.addSql(`create unique index "audit_event_global_seq_unique" on "audit_event" ("global_seq");`);
    this.addSql(`create unique index "audit_event_prescription_id_rx_seq_unique" on "audit_event" ("prescription_id", "rx_seq");`);
    // The regulator export reads by time.
    this.addSql(`create index "audit_event_at_index" on "audit_event" ("at");`);

    // ---- appends: chained by trigger ----
    this.addSql(`create function audit_event_chain() returns trigger language plpgsql as $$
      declare
        g_seq bigint; g_hash text; r_seq bigint; r_hash text; canon text;
      begin
        NEW.data_digest := audit_sha256(NEW.data::text);
        NEW.data_erased_at := null;
        -- The prescription's row before the heads: its foreign-key check at commit locks it (KEY SHARE)
        -- anyway, and a status change locks it (FOR UPDATE) before writing its event. Taken later, with the
        -- global head held, it would wait on a status change that waits on the global head: a deadlock.
        if NEW.prescription_id is not null then
          perform 1 from prescription where id = NEW.prescription_id for key share;
        end if;
        -- The global head first, always: every writer takes the heads in the same order.
        select seq, hash into g_seq, g_hash from audit_chain_head where chain_id = 'global' for update;
        if not found then
          insert into audit_chain_head (chain_id, seq, hash) values ('global', 0, repeat('0', 64));
          g_seq := 0; g_hash := repeat('0', 64);
        end if;
        NEW.global_seq := g_seq + 1;
        NEW.rx_seq := null;
        NEW.rx_hash := null;
        if NEW.prescription_id is not null then
          select seq, hash into r_seq, r_hash from audit_chain_head where chain_id = NEW.prescription_id::text for update;
          if not found then
            -- No race: the global head is held, so nobody else is creating this prescription's head.
            insert into audit_chain_head (chain_id, seq, hash) values (NEW.prescription_id::text, 0, repeat('0', 64));
            r_seq := 0; r_hash := repeat('0', 64);
          end if;
          NEW.rx_seq := r_seq + 1;
        end if;
        canon := audit_event_canonical(NEW);
        NEW.hash := audit_sha256(g_hash || canon);
        update audit_chain_head set seq = NEW.global_seq, hash = NEW.hash, updated_at = now() where chain_id = 'global';
        if NEW.prescription_id is not null then
          NEW.rx_hash := audit_sha256(r_hash || canon);
          update audit_chain_head set seq = NEW.rx_seq, hash = NEW.rx_hash, updated_at = now() where chain_id = NEW.prescription_id::text;
        end if;
        return NEW;
      end $$;`);
    this.addSql(`create trigger audit_event_chain before insert on "audit_event" for each row execute function audit_event_chain();`);

    // ---- append-only, except erasing an event's data (the digest in the chain stays) ----
    this.addSql(`create or replace function audit_event_immutable() returns trigger language plpgsql as $$
      begin
        if tg_op = 'UPDATE' then
          if OLD.data_erased_at is null and NEW.data_erased_at is not null and NEW.data = '{"erased": true}'::jsonb
             and (to_jsonb(NEW) - 'data' - 'data_erased_at') = (to_jsonb(OLD) - 'data' - 'data_erased_at') then
            return NEW;
          end if;
        end if;
        raise exception 'audit_event is append-only (% refused)', tg_op;
      end $$;`);
    this.addSql(`create trigger audit_event_no_truncate before truncate on "audit_event" for each statement execute function audit_event_immutable();`);
  }
}
