import { Migration } from '@mikro-orm/migrations';

// Which SKU fills each line of an order: the prescribed one or, where the prescription allows
// generic substitution, another manufacturer's SKU of the same generic, strength and form.
export class Migration20261123153000_order_fills extends Migration {
  override async up(): Promise<void> {
    this.addSql(`alter table "fulfilment_order" add column "fills" jsonb null;`);
  }
}
