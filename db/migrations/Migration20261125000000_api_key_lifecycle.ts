import { Migration } from '@mikro-orm/migrations';

// API keys with a lifecycle (docs/security.md "API keys"): scopes (a subset of the role's actions; null =
// all of them), an expiry (a rotated key stays valid for an overlap, then stops), revocation, a short
// public prefix to recognise a key in lists and logs, and who issued it. Existing keys keep working
// unchanged: no scopes, no expiry.
export class Migration20261125000000_api_key_lifecycle extends Migration {
  override async up(): Promise<void> {
    this.addSql(`alter table "api_client"
      add column "scopes" text[] null,
      add column "key_prefix" varchar(16) null,
      add column "expires_at" timestamptz null,
      add column "revoked_at" timestamptz null,
      add column "revoked_reason" varchar(300) null,
      add column "created_by" varchar(160) null,
      add column "rotated_from" uuid null references "api_client" ("id");`);
    this.addSql(`create index "api_client_party_idx" on "api_client" ("party_id", "role");`);
  }

  override async down(): Promise<void> {
    this.addSql(`drop index if exists "api_client_party_idx";`);
    this.addSql(`alter table "api_client" drop column if exists "scopes", drop column if exists "key_prefix", drop column if exists "expires_at",
      drop column if exists "revoked_at", drop column if exists "revoked_reason", drop column if exists "created_by", drop column if exists "rotated_from";`);
  }
}
