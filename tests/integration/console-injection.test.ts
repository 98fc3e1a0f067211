// Injection in the consoles (issue 6, "Bad input"), in headless Chromium: a hospital pushes a prescription
// whose free text (patient, doctor, diagnosis, department, allergies, long-term reason) carries script and
// HTML payloads; the pharmacist console and the operator's report page show that text literally, run none
// of it (no dialog fires, no element is created from it), and report no script error.
import fs from 'node:fs';
import path from 'node:path';
import { randomUUID } from 'node:crypto';
import { type Browser, type Page } from 'playwright-core';
import { launchChromium } from '../support/chromium';
import { actors, apiUrl, closeDb, sql } from './helpers';
import { statusIs, waitForPrescription } from '../../demo/actors';
import { demoPrescription } from '../../demo/prescriptions';
import { DEMO } from '../../demo/fixtures';

const ARTIFACTS = path.resolve(__dirname, '../../.stack/test-artifacts');
// Each within its field's length limit (domain/prescription.ts), each trying another way in.
const P = {
  patient: `<img src=x onerror=alert('patient')>`,
  doctor: `<script>alert('doctor')</script>`,
  diagnosis: `"><svg onload=alert('diagnosis')>`,
  department: `<b onmouseover=alert(1)>科室</b>`,
  allergy: `<iframe src=javascript:alert(2)>`,
  reason: `</textarea><script>alert('reason')</script>`,
  hospital: `<img src=x onerror=alert('hospital')>医院`,
  reviewReason: `<script>alert('review')</script>`,
};
const MONTH = '2024-02'; // a month no other test writes, so the report page shows only this fixture

let browser: Browser | undefined;

beforeAll(async () => {
  browser = await launchChromium();
});
afterAll(async () => { await browser?.close(); await closeDb(); });

/** What must never happen: a dialog (alert/confirm/prompt), a script error, a request for the payloads' "x". */
function watch(page: Page) {
  const dialogs: string[] = [];
  const problems: string[] = [];
  page.on('dialog', (d) => { dialogs.push(d.message()); void d.dismiss(); });
  page.on('pageerror', (e) => problems.push(`page error: ${e.message}`));
  page.on('request', (r) => { if (/\/x$|javascript:/.test(r.url())) problems.push(`payload fetched ${r.url()}`); });
  return { dialogs, problems };
}

/** No element the payloads would create exists in the page. */
async function injectedElements(page: Page): Promise<number> {
  return page.evaluate(() => {
    const d = (globalThis as any).document;
    return d.querySelectorAll('img[src="x"], svg[onload], iframe, b[onmouseover], [onerror], [onload]').length
      + [...d.querySelectorAll('script')].filter((s: any) => /alert/.test(s.textContent)).length;
  });
}

async function expectText(locator: ReturnType<Page['locator']>, want: string | RegExp, timeoutMs = 10_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  let got: string | null = null;
  while (Date.now() < deadline) {
    got = (await locator.count()) ? await locator.first().textContent() : null;
    if (got !== null && (typeof want === 'string' ? got.includes(want) : want.test(got))) return;
    await new Promise((r) => setTimeout(r, 100));
  }
  throw new Error(`expected ${String(locator)} to show ${String(want)}, got ${JSON.stringify(got)}`);
}

it('the pharmacist console shows script and HTML from a prescription as text', async () => {
  const a = actors();
  const rx = demoPrescription({
    patient: { name: P.patient, allergies: [P.allergy] },
    longTermReason: P.reason,
    extra: { doctor: { code: DEMO.doctors[0].code, name: P.doctor }, diagnoses: [{ code: 'I10', name: P.diagnosis }], visit: { type: 'follow_up', priorDiagnosisRef: 'OPD-2025-118204', department: P.department } },
  });
  const pushed = await a.hospital.post('/v1/prescriptions', rx);
  expect(pushed.status).toBe(201);
  const id = pushed.body.prescription.id as string;
  await waitForPrescription(a.hospital, id, statusIs('in_review'));

  const context = await browser!.newContext({ viewport: { width: 1400, height: 1100 }, locale: 'zh-CN' });
  const page = await context.newPage();
  const { dialogs, problems } = watch(page);
  await page.goto(`${apiUrl()}/console`);
  await page.fill('#login-name', DEMO.pharmacistLogins[0].username);
  await page.fill('#login-password', DEMO.pharmacistLogins[0].password);
  await page.click('#login-submit');
  await page.locator('#app-view').waitFor({ state: 'visible' });

  const item = page.locator(`#queue li[data-id="${id}"]`);
  await item.waitFor();
  await expectText(item, P.department); // the queue shows the department, as text
  await item.locator('button').click();
  await expectText(page.locator('#patient dd[data-field="name"]'), P.patient);
  await expectText(page.locator('#patient dd[data-field="allergies"]'), P.allergy);
  await expectText(page.locator('#diagnoses li').first(), `I10 ${P.diagnosis}`);
  await expectText(page.locator('#detail-pane, main, body').first(), P.doctor);
  await expectText(page.locator('body'), P.department);

  fs.mkdirSync(ARTIFACTS, { recursive: true });
  await page.screenshot({ path: path.join(ARTIFACTS, 'console-injection.png'), fullPage: true });
  // Hover and click around the payloads: an event handler that got in would fire now.
  await page.locator('#patient dd[data-field="name"]').hover();
  await page.locator('#diagnoses li').first().click();
  await page.waitForTimeout(300);
  expect(await injectedElements(page)).toBe(0);
  expect(dialogs).toEqual([]);
  expect(problems).toEqual([]);
  await context.close();
  expect((await a.hospital.post(`/v1/prescriptions/${id}/cancel`, { reason: 'injection test done' })).status).toBe(202);
});

it('the operator report page shows a hospital name and a reason carrying script as text', async () => {
  const hospitalId = randomUUID();
  const code = `XSS-${randomUUID().slice(0, 6)}`;
  await sql(`insert into hospital (id, code, name, region_code, signing_keys, created_at) values (?, ?, ?, '339999', '[]'::jsonb, now())`, [hospitalId, code, P.hospital]);
  const [{ did }] = await sql(`insert into doctor (id, hospital_id, code, name, license_no, licensed, authorised) values (gen_random_uuid(), ?, 'D-XSS', ?, '110339999000001', true, true) returning id as did`, [hospitalId, P.doctor]);
  const id = randomUUID();
  const created = new Date(`${MONTH}-10T10:00:00+08:00`);
  await sql(`insert into prescription (id, hospital_id, rx_no, content_hash, status, content, doctor_id, patient_ref, issued_at, expires_at, flags, pricing, workflow_id, created_at, updated_at)
             values (?, ?, ?, ?, 'rejected', ?::jsonb, ?, 'patient-xss', ?, ?, '[]'::jsonb, null, ?, ?, ?)`,
    [id, hospitalId, `${code}-1`, '0'.repeat(64), JSON.stringify({ patient: { name: P.patient } }), did, created, created, `rx-${id}`, created, created]);
  await sql(`insert into prescription_line (id, prescription_id, line_no, drug_code, drug_name, quantity, dosage, frequency, route, days) values (?, ?, 1, 'FIXTURE', ?, 1, '1片', 'qd', 'po', 7)`, [randomUUID(), id, P.diagnosis]);
  await sql(`insert into review (id, prescription_id, pharmacist_id, decision, reasons, comment, decided_at) values (?, ?, (select id from pharmacist where code = 'P001'), 'rejected', ?::jsonb, ?, ?)`,
    [randomUUID(), id, JSON.stringify([P.reviewReason]), P.reason, new Date(created.getTime() + 600_000)]);

  const context = await browser!.newContext({ viewport: { width: 1400, height: 1000 }, locale: 'zh-CN' });
  const page = await context.newPage();
  const { dialogs, problems } = watch(page);
  await page.goto(`${apiUrl()}/ops/reports`);
  await page.fill('#api-key', DEMO.operatorKey);
  await page.fill('#month', MONTH);
  await page.selectOption('#by', 'hospital');
  await page.click('#load');
  const row = page.locator(`#report-table tbody tr[data-key="${code}"]`);
  await row.waitFor();
  await expectText(row, P.hospital);
  await expectText(row.locator('td.reasons'), `${P.reviewReason} ×1`);
  await row.hover();
  // The charts' tooltips are HTML in ECharts: hover across the bars so a tooltip with the name renders.
  for (const chart of ['#chart-counts', '#chart-value']) {
    const box = await page.locator(`${chart} canvas`).first().boundingBox();
    for (let x = 0.1; box && x < 1; x += 0.1) await page.mouse.move(box.x + box.width * x, box.y + box.height * 0.6);
  }
  await page.waitForTimeout(300);
  fs.mkdirSync(ARTIFACTS, { recursive: true });
  await page.screenshot({ path: path.join(ARTIFACTS, 'ops-reports-injection.png'), fullPage: true });
  expect(await injectedElements(page)).toBe(0);
  expect(dialogs).toEqual([]);
  expect(problems).toEqual([]);
  await context.close();
});
