import { Migration } from '@mikro-orm/migrations';

// Patients as their own rows (per hospital, by the hospital's patient id), linked from prescriptions;
// existing prescriptions are backfilled from the snapshot they carry.
export class Migration20261123140000_patient extends Migration {
  override async up(): Promise<void> {
    this.addSql(`create table "patient" ("id" uuid not null, "hospital_id" uuid not null, "ref" varchar(64) not null, "name" varchar(60) not null, "gender" varchar(1) not null, "birth_date" date not null, "phone" varchar(20) not null, "id_number" varchar(18) null, "allergies" jsonb not null, "updated_at" timestamptz not null, constraint "patient_pkey" primary key ("id"));`);
    this.addSql(`alter table "patient" add constraint "patient_hospital_id_ref_unique" unique ("hospital_id", "ref");`);
    this.addSql(`alter table "patient" add constraint "patient_hospital_id_fk" foreign key ("hospital_id") references "hospital" ("id") deferrable initially deferred;`);
    this.addSql(`alter table "prescription" add column "patient_id" uuid null;`);
    this.addSql(`alter table "prescription" add constraint "prescription_patient_id_fk" foreign key ("patient_id") references "patient" ("id") deferrable initially deferred;`);
    this.addSql(`create index "prescription_patient_id_index" on "prescription" ("patient_id");`);
    this.addSql(`insert into "patient" (id, hospital_id, ref, name, gender, birth_date, phone, id_number, allergies, updated_at)
      select distinct on (hospital_id, patient_ref) gen_random_uuid(), hospital_id, patient_ref,
        content->'patient'->>'name', content->'patient'->>'gender', (content->'patient'->>'birthDate')::date,
        content->'patient'->>'phone', content->'patient'->>'idNumber', coalesce(content->'patient'->'allergies', '[]'::jsonb), created_at
      from "prescription" order by hospital_id, patient_ref, created_at desc;`);
    this.addSql(`update "prescription" p set patient_id = pt.id from "patient" pt where pt.hospital_id = p.hospital_id and pt.ref = p.patient_ref;`);
  }
}
