// `rxflow adr-export`: the national ADR report (国家药品不良反应/事件报告表) for a date range, as the API's
// GET /v1/adr-reports gives it (docs/follow-up.md §5), for an operator without an API key at hand.
import { writeFileSync } from 'node:fs';
import { EXIT, parse, printJson, str, UsageError, type Command } from './common';
import { adrReports, adrReportsCsv } from '../../reports/adr';

const DATE = /^\d{4}-\d{2}-\d{2}$/;

export const adrExportCommand: Command = {
  name: 'adr-export',
  help: `usage: rxflow adr-export [--from YYYY-MM-DD] [--to YYYY-MM-DD] [--csv] [--all] [--out FILE]

The serious adverse reactions reported in follow-up answers (China dates of the answer), in the national
ADR report's fields: JSON (one object per report) or --csv (one row per suspected drug, UTF-8 with BOM).
--all adds the reactions that are not serious. --out writes to FILE instead of stdout.

example: rxflow adr-export --from 2026-11-01 --to 2026-11-30 --csv --out adr-2026-11.csv`,
  async run(args, ctx) {
    const { values } = parse(args, { from: { type: 'string' }, to: { type: 'string' }, csv: { type: 'boolean' }, all: { type: 'boolean' }, out: { type: 'string' } }, { min: 0, max: 0, names: '' });
    const from = str(values, 'from');
    const to = str(values, 'to');
    for (const [name, v] of [['from', from], ['to', to]] as const) if (v !== undefined && !DATE.test(v)) throw new UsageError(`--${name} must be YYYY-MM-DD, got "${v}"`);
    const reports = await adrReports(await ctx.orm(), { from, to, all: values.all === true });
    const out = str(values, 'out');
    if (values.csv) {
      const csv = adrReportsCsv(reports);
      if (out) writeFileSync(out, csv); else process.stdout.write(csv);
    } else if (out) {
      writeFileSync(out, `${JSON.stringify(reports, null, 2)}\n`);
    } else {
      printJson(reports);
    }
    if (out) process.stderr.write(`${reports.length} report(s) written to ${out}\n`);
    return EXIT.ok;
  },
};
