import { Migration } from '@mikro-orm/migrations';

// How far each pharmacy delivers; matching offers an order only to pharmacies that reach the patient.
export class Migration20261123151000_delivery_radius extends Migration {
  override async up(): Promise<void> {
    this.addSql(`alter table "pharmacy" add column "delivery_radius_km" double precision not null default 5;`);
  }
}
