import { Migration } from '@mikro-orm/migrations';

// Dispensing with traceability codes, re-sold pack alerts, the final insurance settlement, and the
// hospital's region for reports. Written by hand: the generated diff also tries to drop the foreign
// keys that the initial migration declares in SQL (the entities do not model them as relations).
export class Migration20261123120000_dispensing extends Migration {
  override async up(): Promise<void> {
    this.addSql(`alter table "hospital" add column "region_code" varchar(12) not null default '330100';`);

    this.addSql(`create table "dispensing" ("id" uuid not null, "prescription_id" uuid not null, "order_id" uuid not null, "pharmacy_id" uuid not null, "pharmacist_name" varchar(60) not null, "findings" jsonb not null, "dispensed_at" timestamptz not null, constraint "dispensing_pkey" primary key ("id"));`);
    this.addSql(`alter table "dispensing" add constraint "dispensing_prescription_id_unique" unique ("prescription_id");`);

    this.addSql(`create table "dispensed_pack" ("id" uuid not null, "dispensing_id" uuid not null, "prescription_id" uuid not null, "line_no" int not null, "drug_code" varchar(40) not null, "trace_code" varchar(80) not null, "batch_no" varchar(40) not null, "expiry_date" date not null, "created_at" timestamptz not null, constraint "dispensed_pack_pkey" primary key ("id"));`);
    this.addSql(`alter table "dispensed_pack" add constraint "dispensed_pack_trace_code_unique" unique ("trace_code");`);
    this.addSql(`create index "dispensed_pack_prescription_id_index" on "dispensed_pack" ("prescription_id");`);

    this.addSql(`create table "trace_alert" ("id" uuid not null, "trace_code" varchar(80) not null, "prescription_id" uuid not null, "pharmacy_id" uuid not null, "first_prescription_id" uuid null, "kind" varchar(20) not null, "insured" boolean not null, "created_at" timestamptz not null, "acknowledged_at" timestamptz null, constraint "trace_alert_pkey" primary key ("id"));`);
    this.addSql(`create index "trace_alert_created_at_index" on "trace_alert" ("created_at");`);

    this.addSql(`create table "settlement" ("id" uuid not null, "prescription_id" uuid not null, "plan_id" varchar(40) null, "total_fen" int not null, "insurer_pays_fen" int not null, "patient_pays_fen" int not null, "lines" jsonb not null, "created_at" timestamptz not null, "reversed_at" timestamptz null, constraint "settlement_pkey" primary key ("id"));`);
    this.addSql(`alter table "settlement" add constraint "settlement_prescription_id_unique" unique ("prescription_id");`);

    const fk = (table: string, column: string, ref: string) =>
      this.addSql(`alter table "${table}" add constraint "${table}_${column}_fk" foreign key ("${column}") references "${ref}" ("id") deferrable initially deferred;`);
    fk('dispensing', 'prescription_id', 'prescription');
    fk('dispensing', 'order_id', 'fulfilment_order');
    fk('dispensing', 'pharmacy_id', 'pharmacy');
    fk('dispensed_pack', 'dispensing_id', 'dispensing');
    fk('dispensed_pack', 'prescription_id', 'prescription');
    fk('trace_alert', 'prescription_id', 'prescription');
    fk('trace_alert', 'pharmacy_id', 'pharmacy');
    fk('settlement', 'prescription_id', 'prescription');
  }
}
