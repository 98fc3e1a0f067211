import { Migration } from '@mikro-orm/migrations';

// Partial fills (docs/dispensing.md): a prescription may be dispensed in several fills by the pharmacy
// that accepted it. Each fill is a `dispensing` row numbered from 1 with its own settlement; the lines
// know how much was dispensed and how much was declared not dispensed. Rows from before keep fill 1.
export class Migration20261124110000_partial_fills extends Migration {
  override async up(): Promise<void> {
    this.addSql(`alter table "dispensing" drop constraint "dispensing_prescription_id_unique";`);
    this.addSql(`alter table "dispensing" add column "fill_no" int not null default 1, add column "lines" jsonb null;`);
    this.addSql(`alter table "dispensing" add constraint "dispensing_prescription_id_fill_no_unique" unique ("prescription_id", "fill_no");`);

    this.addSql(`alter table "settlement" drop constraint "settlement_prescription_id_unique";`);
    this.addSql(`alter table "settlement" add column "fill_no" int not null default 1, add column "dispensing_id" uuid null;`);
    this.addSql(`alter table "settlement" add constraint "settlement_prescription_id_fill_no_unique" unique ("prescription_id", "fill_no");`);
    this.addSql(`alter table "settlement" add constraint "settlement_dispensing_id_fk" foreign key ("dispensing_id") references "dispensing" ("id") deferrable initially deferred;`);

    this.addSql(`alter table "prescription_line" add column "dispensed_quantity" int not null default 0, add column "not_dispensed_quantity" int not null default 0;`);
    this.addSql(`alter table "prescription" add column "partial_fill" boolean not null default false;`);

    // Dispensings from before were all full fills of one row each.
    this.addSql(`update "dispensing" d set "lines" = (select jsonb_agg(jsonb_build_object('lineNo', x.line_no, 'quantity', x.n) order by x.line_no)
      from (select line_no, count(*)::int as n from "dispensed_pack" where dispensing_id = d.id group by line_no) x);`);
    this.addSql(`update "settlement" s set "dispensing_id" = d.id from "dispensing" d where d.prescription_id = s.prescription_id;`);
    this.addSql(`update "prescription_line" l set "dispensed_quantity" = x.n
      from (select prescription_id, line_no, count(*)::int as n from "dispensed_pack" group by prescription_id, line_no) x
      where x.prescription_id = l.prescription_id and x.line_no = l.line_no;`);
    // Never more handed out (or written off) than prescribed, whatever writes the rows.
    this.addSql(`alter table "prescription_line" add constraint "prescription_line_dispensed_quantity_check" check ("dispensed_quantity" >= 0 and "not_dispensed_quantity" >= 0 and "dispensed_quantity" + "not_dispensed_quantity" <= "quantity");`);
  }
}
