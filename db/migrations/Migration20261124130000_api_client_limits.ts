import { Migration } from '@mikro-orm/migrations';

// Rate limits per API key (docs/security.md): a key may carry its own requests-per-minute, above or below
// its role's default (RX_RATE_LIMIT_<ROLE>); null means the role's default.
export class Migration20261124130000_api_client_limits extends Migration {
  override async up(): Promise<void> {
    this.addSql(`alter table "api_client" add column "rate_limit_per_minute" int null check ("rate_limit_per_minute" >= 0);`);
  }

  override async down(): Promise<void> {
    this.addSql(`alter table "api_client" drop column if exists "rate_limit_per_minute";`);
  }
}
