import { Migration } from '@mikro-orm/migrations';

// The pharmacist's review (docs/review.md): claim leases, licence validity and a lead flag on the
// pharmacist, each pharmacist's signing key (private half encrypted), the signed decision and override
// reason on the review, the escalation level on the prescription, and versions of a prescription number
// (an amendment of a rejected prescription is version n+1 under the same number, linked to version n).
export class Migration20261124040000_review_claims extends Migration {
  override async up(): Promise<void> {
    this.addSql(`alter table "pharmacist" alter column "license_no" drop not null;`);
    this.addSql(`alter table "pharmacist" add column "license_valid_from" date null, add column "license_valid_to" date null, add column "lead" boolean not null default false, add column "signing_key" jsonb null;`);

    this.addSql(`create table "review_claim" ("prescription_id" uuid not null, "pharmacist_id" uuid not null, "claimed_at" timestamptz not null, "expires_at" timestamptz not null, constraint "review_claim_pkey" primary key ("prescription_id"));`);
    this.addSql(`alter table "review_claim" add constraint "review_claim_prescription_id_fk" foreign key ("prescription_id") references "prescription" ("id") deferrable initially deferred;`);
    this.addSql(`alter table "review_claim" add constraint "review_claim_pharmacist_id_fk" foreign key ("pharmacist_id") references "pharmacist" ("id") deferrable initially deferred;`);

    this.addSql(`alter table "review" add column "override_reason" text null, add column "signature" jsonb null;`);

    this.addSql(`alter table "prescription" add column "version" integer not null default 1, add column "amends_id" uuid null, add column "review_escalations" integer not null default 0;`);
    this.addSql(`alter table "prescription" add constraint "prescription_amends_id_fk" foreign key ("amends_id") references "prescription" ("id") deferrable initially deferred;`);
    this.addSql(`alter table "prescription" add constraint "prescription_amends_id_unique" unique ("amends_id");`);
    this.addSql(`alter table "prescription" drop constraint "prescription_hospital_id_rx_no_unique";`);
    this.addSql(`alter table "prescription" add constraint "prescription_hospital_id_rx_no_version_unique" unique ("hospital_id", "rx_no", "version");`);
  }
}
