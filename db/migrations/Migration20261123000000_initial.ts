import { Migration } from '@mikro-orm/migrations';

export class Migration20261123000000_initial extends Migration {

  override async up(): Promise<void> {
    this.addSql(`create table "api_client" ("id" uuid not null, "key_hash" varchar(64) not null, "role" varchar(20) not null, "party_id" uuid not null, "label" varchar(120) not null, "created_at" timestamptz not null, constraint "api_client_pkey" primary key ("id"));`);
    this.addSql(`alter table "api_client" add constraint "api_client_key_hash_unique" unique ("key_hash");`);

    this.addSql(`create table "audit_event" ("id" bigserial primary key, "prescription_id" uuid null, "action" varchar(40) not null, "actor" varchar(120) not null, "from_status" varchar(20) null, "to_status" varchar(20) null, "data" jsonb not null, "at" timestamptz not null);`);
    this.addSql(`create index "audit_event_prescription_id_id_index" on "audit_event" ("prescription_id", "id");`);

    this.addSql(`create table "delivery" ("id" uuid not null, "prescription_id" uuid not null, "order_id" uuid not null, "partner_id" uuid not null, "attempt" int not null, "status" varchar(12) not null, "cold_chain" boolean not null, "events" jsonb not null, "created_at" timestamptz not null, "updated_at" timestamptz not null, constraint "delivery_pkey" primary key ("id"));`);
    this.addSql(`create index "delivery_partner_id_status_index" on "delivery" ("partner_id", "status");`);
    this.addSql(`alter table "delivery" add constraint "delivery_prescription_id_attempt_unique" unique ("prescription_id", "attempt");`);

    this.addSql(`create table "delivery_partner" ("id" uuid not null, "code" varchar(40) not null, "name" varchar(120) not null, "cold_chain" boolean not null, "same_day" boolean not null, constraint "delivery_partner_pkey" primary key ("id"));`);
    this.addSql(`alter table "delivery_partner" add constraint "delivery_partner_code_unique" unique ("code");`);

    this.addSql(`create table "doctor" ("id" uuid not null, "hospital_id" uuid not null, "code" varchar(40) not null, "name" varchar(60) not null, "license_no" varchar(40) not null, "licensed" boolean not null, "authorised" boolean not null, constraint "doctor_pkey" primary key ("id"));`);
    this.addSql(`alter table "doctor" add constraint "doctor_hospital_id_code_unique" unique ("hospital_id", "code");`);

    this.addSql(`create table "drug" ("code" varchar(40) not null, "generic_name_zh" varchar(120) not null, "data" jsonb not null, "updated_at" timestamptz not null, constraint "drug_pkey" primary key ("code"));`);

    this.addSql(`create table "follow_up" ("id" uuid not null, "prescription_id" uuid not null, "kind" varchar(20) not null, "due_at" timestamptz not null, "status" varchar(12) not null, "sent_at" timestamptz null, constraint "follow_up_pkey" primary key ("id"));`);
    this.addSql(`alter table "follow_up" add constraint "follow_up_prescription_id_kind_unique" unique ("prescription_id", "kind");`);

    this.addSql(`create table "fulfilment_order" ("id" uuid not null, "prescription_id" uuid not null, "pharmacy_id" uuid not null, "attempt" int not null, "status" varchar(12) not null, "total_price_fen" int not null, "distance_km" double precision not null, "decline_reason" varchar(200) null, "offered_at" timestamptz not null, "responded_at" timestamptz null, constraint "fulfilment_order_pkey" primary key ("id"));`);
    this.addSql(`create index "fulfilment_order_pharmacy_id_status_index" on "fulfilment_order" ("pharmacy_id", "status");`);
    this.addSql(`alter table "fulfilment_order" add constraint "fulfilment_order_prescription_id_attempt_unique" unique ("prescription_id", "attempt");`);

    this.addSql(`create table "hospital" ("id" uuid not null, "code" varchar(40) not null, "name" varchar(120) not null, "signing_keys" jsonb not null, "created_at" timestamptz not null, constraint "hospital_pkey" primary key ("id"));`);
    this.addSql(`alter table "hospital" add constraint "hospital_code_unique" unique ("code");`);

    this.addSql(`create table "pharmacist" ("id" uuid not null, "code" varchar(40) not null, "name" varchar(60) not null, "license_no" varchar(40) not null, constraint "pharmacist_pkey" primary key ("id"));`);
    this.addSql(`alter table "pharmacist" add constraint "pharmacist_code_unique" unique ("code");`);

    this.addSql(`create table "pharmacy" ("id" uuid not null, "code" varchar(40) not null, "name" varchar(120) not null, "city" varchar(40) not null, "district" varchar(40) not null, "address" varchar(200) not null, "lat" double precision not null, "lng" double precision not null, "phone" varchar(40) not null, "opening_hours" jsonb not null, "is24h" boolean not null, "cold_chain" boolean not null, "kind" varchar(10) not null, "promised_minutes" int not null, constraint "pharmacy_pkey" primary key ("id"));`);
    this.addSql(`alter table "pharmacy" add constraint "pharmacy_code_unique" unique ("code");`);

    this.addSql(`create table "prescription" ("id" uuid not null, "hospital_id" uuid not null, "rx_no" varchar(64) not null, "content_hash" varchar(64) not null, "status" varchar(20) not null, "content" jsonb not null, "doctor_id" uuid not null, "patient_ref" varchar(64) not null, "issued_at" timestamptz not null, "expires_at" timestamptz not null, "flags" jsonb not null, "pricing" jsonb null, "workflow_id" varchar(120) not null, "used_at" timestamptz null, "created_at" timestamptz not null, "updated_at" timestamptz not null, constraint "prescription_pkey" primary key ("id"));`);
    this.addSql(`create index "prescription_status_created_at_index" on "prescription" ("status", "created_at");`);
    this.addSql(`alter table "prescription" add constraint "prescription_hospital_id_rx_no_unique" unique ("hospital_id", "rx_no");`);

    this.addSql(`create table "prescription_line" ("id" uuid not null, "prescription_id" uuid not null, "line_no" int not null, "drug_code" varchar(40) not null, "drug_name" varchar(120) not null, "quantity" int not null, "dosage" varchar(40) not null, "frequency" varchar(20) not null, "route" varchar(20) not null, "days" int not null, constraint "prescription_line_pkey" primary key ("id"));`);
    this.addSql(`alter table "prescription_line" add constraint "prescription_line_prescription_id_line_no_unique" unique ("prescription_id", "line_no");`);

    this.addSql(`create table "reservation" ("id" uuid not null, "prescription_id" uuid not null, "pharmacy_id" uuid not null, "drug_code" varchar(40) not null, "quantity" int not null, "status" varchar(10) not null, "expires_at" timestamptz not null, "created_at" timestamptz not null, constraint "reservation_pkey" primary key ("id"));`);
    this.addSql(`create index "reservation_prescription_id_index" on "reservation" ("prescription_id");`);
    this.addSql(`create index "reservation_status_expires_at_index" on "reservation" ("status", "expires_at");`);

    this.addSql(`create table "review" ("id" uuid not null, "prescription_id" uuid not null, "pharmacist_id" uuid not null, "decision" varchar(10) not null, "reasons" jsonb not null, "comment" text null, "decided_at" timestamptz not null, constraint "review_pkey" primary key ("id"));`);
    this.addSql(`alter table "review" add constraint "review_prescription_id_unique" unique ("prescription_id");`);

    this.addSql(`create table "stock" ("pharmacy_id" uuid not null, "drug_code" varchar(40) not null, "on_hand" int not null, "reserved" int not null default 0, "price_fen" int not null, "updated_at" timestamptz not null, constraint "stock_pkey" primary key ("pharmacy_id", "drug_code"), constraint stock_not_oversold check (reserved >= 0 and reserved <= on_hand));`);
    // Real foreign keys: a line, review, order, delivery or follow-up never outlives its prescription.
    // Checked at commit, so a transaction may insert a prescription and its lines in any order.
    const fk = (table: string, column: string, ref: string) =>
      this.addSql(`alter table "${table}" add constraint "${table}_${column}_fk" foreign key ("${column}") references "${ref}" ("${column === 'drug_code' ? 'code' : 'id'}") deferrable initially deferred;`);
    fk('doctor', 'hospital_id', 'hospital');
    fk('prescription', 'hospital_id', 'hospital');
    fk('prescription', 'doctor_id', 'doctor');
    fk('prescription_line', 'prescription_id', 'prescription');
    fk('review', 'prescription_id', 'prescription');
    fk('review', 'pharmacist_id', 'pharmacist');
    fk('stock', 'pharmacy_id', 'pharmacy');
    fk('stock', 'drug_code', 'drug');
    fk('reservation', 'prescription_id', 'prescription');
    fk('reservation', 'pharmacy_id', 'pharmacy');
    fk('fulfilment_order', 'prescription_id', 'prescription');
    fk('fulfilment_order', 'pharmacy_id', 'pharmacy');
    fk('delivery', 'prescription_id', 'prescription');
    fk('delivery', 'order_id', 'fulfilment_order');
    fk('delivery', 'partner_id', 'delivery_partner');
    fk('follow_up', 'prescription_id', 'prescription');
    fk('audit_event', 'prescription_id', 'prescription');

    // The audit trail is append-only, enforced by the database itself rather than by convention.
    this.addSql(`create function audit_event_immutable() returns trigger language plpgsql as $$
      begin raise exception 'audit_event is append-only (% refused)', tg_op; end $$;`);
    this.addSql(`create trigger audit_event_no_update before update or delete on "audit_event"
      for each row execute function audit_event_immutable();`);
  }

}
