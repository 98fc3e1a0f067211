import { Migration } from '@mikro-orm/migrations';

// The event feed's wake-up call: every hospital_event insert notifies channel rxflow_hospital_event with
// "<hospital id>:<sequence>". PostgreSQL sends a NOTIFY only when (and if) the inserting transaction
// commits, in commit order, so a long-poll or SSE waiter wakes exactly when a new event is readable —
// whoever wrote it (status writer, intake, refusals). The payload carries no event data; waiters re-read.
export class Migration20261124090000_event_feed extends Migration {
  override async up(): Promise<void> {
    this.addSql(`create function hospital_event_notify() returns trigger language plpgsql as $$
      begin perform pg_notify('rxflow_hospital_event', new.hospital_id::text || ':' || new.sequence::text); return null; end $$;`);
    this.addSql(`create trigger hospital_event_notify after insert on "hospital_event" for each row execute function hospital_event_notify();`);
  }

  override async down(): Promise<void> {
    this.addSql(`drop trigger if exists hospital_event_notify on "hospital_event";`);
    this.addSql(`drop function if exists hospital_event_notify();`);
  }
}
