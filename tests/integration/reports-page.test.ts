// The operator report page in headless Chromium: key, month and grouping in, charts and table out, the
// CSV download, and a screenshot in .stack/test-artifacts/ops-reports.png to look at. Its own fixture
// month (May 2025), so it does not depend on reports.test.ts.
import fs from 'node:fs';
import path from 'node:path';
import { randomUUID } from 'node:crypto';
import { type Browser } from 'playwright-core';
import { assertChromium, launchChromium } from '../support/chromium';
import { apiUrl, closeDb, sql } from './helpers';

const ARTIFACTS = path.resolve(__dirname, '../../.stack/test-artifacts');
const MONTH = '2025-05';
const HOSPITALS = [
  { code: 'RPT-PAGE-1', name: '宁波报表页测试医院（演示）', region: '330203', rx: [['approved', 2], ['approved', 1], ['rejected', 1]] as const },
  { code: 'RPT-PAGE-2', name: '海曙区社区卫生服务中心（演示）', region: '330203', rx: [['approved', 1]] as const },
];

let browser: Browser | undefined;

beforeAll(async () => {
  // No skipping: CI installs Chromium through stack/rxstack (browser_install); say so when it is missing.
  assertChromium();
  for (const h of HOSPITALS) {
    const hospitalId = randomUUID();
    const doctorId = randomUUID();
    await sql(`insert into hospital (id, code, name, region_code, signing_keys, created_at) values (?, ?, ?, ?, '[]'::jsonb, now())`, [hospitalId, h.code, h.name, h.region]);
    await sql(`insert into doctor (id, hospital_id, code, name, license_no, licensed, authorised) values (?, ?, 'D-PAGE', '页面医生（测试）', '110330203000001', true, true)`, [doctorId, hospitalId]);
    for (const [i, [decision, totalYuan]] of h.rx.entries()) {
      const id = randomUUID();
      const created = new Date(`2025-05-${String(10 + i).padStart(2, '0')}T10:00:00+08:00`);
      const pricing = decision === 'approved' ? JSON.stringify({ planId: null, lines: [], totalFen: totalYuan * 10000, insurerPaysFen: 0, patientPaysFen: totalYuan * 10000 }) : null;
      await sql(`insert into prescription (id, hospital_id, rx_no, content_hash, status, content, doctor_id, patient_ref, issued_at, expires_at, flags, pricing, workflow_id, created_at, updated_at)
                 values (?, ?, ?, ?, ?, '{"fixture":"reports-page"}'::jsonb, ?, 'patient-page', ?, ?, '[]'::jsonb, ?::jsonb, ?, ?, ?)`,
        [id, hospitalId, `${h.code}-${i}`, '0'.repeat(64), decision, doctorId, created, created, pricing, `rx-${id}`, created, created]);
      await sql(`insert into prescription_line (id, prescription_id, line_no, drug_code, drug_name, quantity, dosage, frequency, route, days)
                 values (?, ?, 1, 'FIXTURE', '测试药品', 1, '1片', 'qd', 'po', 7)`, [randomUUID(), id]);
      await sql(`insert into review (id, prescription_id, pharmacist_id, decision, reasons, comment, decided_at)
                 values (?, ?, (select id from pharmacist where code = 'P001'), ?, ?::jsonb, null, ?)`,
        [randomUUID(), id, decision, JSON.stringify(decision === 'rejected' ? ['超说明书用药<script>'] : []), new Date(created.getTime() + 900_000)]);
    }
  }
  browser = await launchChromium();
});

afterAll(async () => {
  await browser?.close();
  await closeDb();
});

it('shows the month per hospital as charts and a table, and downloads the CSV', async () => {
  const context = await browser!.newContext({ viewport: { width: 1400, height: 1000 }, locale: 'zh-CN', acceptDownloads: true });
  const page = await context.newPage();
  const problems: string[] = [];
  page.on('pageerror', (e) => problems.push(`page error: ${e.message}`));
  page.on('console', (m) => { if (m.type() === 'error') problems.push(`console: ${m.text()}`); });
  page.on('response', (r) => { if (r.status() >= 400) problems.push(`HTTP ${r.status()} ${r.url()}`); });

  await page.goto(`${apiUrl()}/ops/reports`);
  await page.fill('#api-key', 'demo-operator-key');
  await page.fill('#month', MONTH);
  await page.selectOption('#by', 'hospital');
  await page.click('#load');

  await page.locator('#chart-counts canvas').first().waitFor({ state: 'visible' });
  await page.locator('#chart-value canvas').first().waitFor({ state: 'visible' });
  const row = page.locator('#report-table tbody tr[data-key="RPT-PAGE-1"]');
  await row.waitFor();
  await expectText(row.locator('td.issued'), '3');
  await expectText(row.locator('td.approved'), '2');
  await expectText(row.locator('td.rejected'), '1');
  await expectText(row.locator('td.avg-value'), '¥150.00'); // (200.00 + 100.00) / 2
  // Text from the data is text: the reason's "<script>" shows literally and creates no element.
  await expectText(row.locator('td.reasons'), '超说明书用药<script> ×1');
  expect(await page.locator('#report-table script').count()).toBe(0);
  await expectText(page.locator('#report-table tbody tr[data-key="RPT-PAGE-2"] td.issued'), '1');
  expect(await page.locator('#report-table tbody tr').count()).toBe(2);
  // The key stays in this tab's session only.
  expect(await page.evaluate(() => (globalThis as any).sessionStorage.getItem('rxflow.operatorKey'))).toBe('demo-operator-key');

  fs.mkdirSync(ARTIFACTS, { recursive: true });
  await page.screenshot({ path: path.join(ARTIFACTS, 'ops-reports.png'), fullPage: true });

  const [download] = await Promise.all([page.waitForEvent('download'), page.click('#download-csv')]);
  expect(download.suggestedFilename()).toBe(`rx-monthly-${MONTH}-hospital.csv`);
  const csv = fs.readFileSync((await download.path())!);
  expect([...csv.subarray(0, 3)]).toEqual([0xef, 0xbb, 0xbf]);
  expect(csv.toString('utf8')).toContain(`${MONTH},hospital,RPT-PAGE-1,宁波报表页测试医院（演示）,330203,3,2,1,`);

  expect(problems).toEqual([]);
  await context.close();
});

it('tells the user when the key is not an operator key', async () => {
  const context = await browser!.newContext();
  const page = await context.newPage();
  await page.goto(`${apiUrl()}/ops/reports?month=${MONTH}&by=region`);
  await page.fill('#api-key', 'demo-hospital-key');
  await page.click('#load');
  await expectText(page.locator('#status.error'), /需要运营角色 \(Operator role required\)/);
  expect(await page.locator('#report-table tbody tr[data-key]').count()).toBe(0);
  await context.close();
});

/** Polls a locator's text until it matches (the page renders after its fetch). */
async function expectText(locator: ReturnType<import('playwright-core').Page['locator']>, want: string | RegExp, timeoutMs = 10_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  let got: string | null = null;
  while (Date.now() < deadline) {
    got = (await locator.count()) ? await locator.first().textContent() : null;
    if (got !== null && (typeof want === 'string' ? got.trim() === want : want.test(got))) return;
    await new Promise((r) => setTimeout(r, 100));
  }
  throw new Error(`expected ${String(locator)} to show ${String(want)}, got ${JSON.stringify(got)}`);
}
