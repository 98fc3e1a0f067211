import { Migration } from '@mikro-orm/migrations';

// Pharmacists log in to the web console with their code (or a username) and a password. Only the scrypt
// hash is stored (format in api/auth.ts: algorithm, cost parameters and per-user salt travel with it);
// null means the pharmacist has no console login. The username is unique regardless of case.
export class Migration20261124050000_pharmacist_login extends Migration {
  override async up(): Promise<void> {
    this.addSql(`alter table "pharmacist" add column "username" varchar(60) null, add column "password_hash" varchar(255) null, add column "password_changed_at" timestamptz null;`);
    this.addSql(`create unique index "pharmacist_username_lower_unique" on "pharmacist" (lower("username"));`);
  }
}
