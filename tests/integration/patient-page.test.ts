// The patient page in headless Chromium against the real engine (docs/patient.md): a hospital pushes a
// prescription and issues a link; the patient opens /p/#<token>, reads the status in Chinese, switches to
// English, chooses pickup before matching (the workflow honours it), sees the amounts, and confirms
// receipt after collection. An expired link shows a clear message; a name made of markup shows as text.
// Screenshot: .stack/test-artifacts/patient-page.png.
import fs from 'node:fs';
import path from 'node:path';
import { type Browser, type Locator, type Page } from 'playwright-core';
import { launchChromium } from '../support/chromium';
import { statusIs, waitForPrescription } from '../../demo/actors';
import { demoPrescription } from '../../demo/prescriptions';
import { scanOrder } from '../../demo/packs';
import { formatYuan } from '../../domain/patient-link';
import { actions, actors, apiUrl, approve, closeDb, sql } from './helpers';

const ARTIFACTS = path.resolve(__dirname, '../../.stack/test-artifacts');
const EVIL_NAME = '<img src=x onerror=alert(1)>';

let browser: Browser | undefined;

beforeAll(async () => {
  browser = await launchChromium();
});

afterAll(async () => {
  await browser?.close();
  await closeDb();
});

/** Script errors, CSP violations, dialogs (an injected alert) and failed requests. */
function watch(page: Page) {
  const problems: string[] = [];
  const dialogs: string[] = [];
  page.on('pageerror', (e) => problems.push(`page error: ${e.message}`));
  page.on('console', (m) => { if (m.type() === 'error' && !/status of 4\d\d/.test(m.text())) problems.push(`console: ${m.text()}`); });
  page.on('dialog', async (d) => { dialogs.push(d.message()); await d.dismiss(); });
  page.on('response', (r) => { if (r.status() >= 400) problems.push(`HTTP ${r.status()} ${r.request().method()} ${new URL(r.url()).pathname}`); });
  return { problems, dialogs };
}

it('follows a prescription from the patient\'s phone: status, language, pickup, amounts, receipt', async () => {
  const a = actors();
  const pushed = await a.hospital.post('/v1/prescriptions', demoPrescription({ patient: { name: EVIL_NAME, idNumber: '330106195803140011' } }));
  expect(pushed.status).toBe(201);
  const id = pushed.body.prescription.id as string;
  await waitForPrescription(a.hospital, id, statusIs('in_review'));
  const link = await a.hospital.post(`/v1/prescriptions/${id}/patient-links`, { holder: 'family', name: '李娜', relation: '女儿' });
  expect(link.status).toBe(201);

  const context = await browser!.newContext({ viewport: { width: 390, height: 844 }, deviceScaleFactor: 2, isMobile: true, hasTouch: true, locale: 'en-US' });
  const page = await context.newPage();
  const { problems, dialogs } = watch(page);
  // The token travels in the fragment: the server never sees it in the page request.
  const requested: string[] = [];
  page.on('request', (r) => requested.push(r.url()));
  await page.goto(`${apiUrl()}/p/#${link.body.token}`);

  // Chinese first, whatever the phone's language.
  await expectText(page.locator('#status'), '药师审方中');
  await expectText(page.locator('#holder'), '查看身份：家属 李娜（女儿）');
  await expectText(page.locator('#patient-name'), EVIL_NAME); // shown as text
  await expectText(page.locator('#patient-id'), '330106********0011');
  expect(await page.locator('#patient-name img').count()).toBe(0);
  await expectText(page.locator('#choice-current'), '当前：送药上门至 杭州市西湖区文三路 90 号 东部软件园 3 幢');

  await page.click('#lang-toggle');
  await expectText(page.locator('#status'), 'With the pharmacist for review');
  await expectText(page.locator('#status-section h2'), 'Where it is');
  expect(await page.evaluate(() => (globalThis as any).document.documentElement.lang)).toBe('en-GB');

  // Pickup, chosen before any pharmacy is matched.
  await page.check('#mode-pickup');
  expect(await page.locator('#address-box').isVisible()).toBe(false);
  await page.click('#choice-submit');
  await expectText(page.locator('#choice-status'), 'Saved.');
  await expectText(page.locator('#choice-current'), 'Now: collect at the pharmacy');
  expect(await actions(id)).toContain('fulfilment_chosen');

  await approve(id);
  const offered = await waitForPrescription(a.hospital, id, (d) => d.workflow?.offer && d.workflow.timeline.at(-1)?.event === 'pharmacy_offered');
  await page.click('#refresh');
  // Matching began: the choice is closed, said in words.
  await expectVisible(page.locator('#choice-locked'));
  expect(await page.locator('#mode-delivery').isDisabled()).toBe(true);
  expect(await page.locator('#choice-submit').isDisabled()).toBe(true);
  const [{ pricing }] = await sql(`select pricing from prescription where id = ?`, [id]);
  await expectText(page.locator('#pay-patient'), formatYuan(pricing.patientPaysFen));
  await expectText(page.locator('#pay-insurer'), formatYuan(pricing.insurerPaysFen));
  await expectText(page.locator('#pay-total'), formatYuan(pricing.totalFen));

  const pharmacy = a.pharmacy(offered.workflow.offer.pharmacyCode);
  const order = (await pharmacy.get('/v1/pharmacy/orders')).body.items.find((o: any) => o.prescriptionId === id);
  await pharmacy.post(`/v1/pharmacy/orders/${order.orderId}/accept`);
  await waitForPrescription(a.hospital, id, (d) => d.workflow.timeline.at(-1)?.event === 'pharmacy_accepted');
  expect((await pharmacy.post(`/v1/pharmacy/orders/${order.orderId}/dispense`, { pharmacistName: '孙药师', lines: scanOrder(order.lines) })).status).toBe(201);
  // The workflow honoured the patient's pickup: no courier, ready at the pharmacy.
  await waitForPrescription(a.hospital, id, (d) => d.workflow.timeline.at(-1)?.event === 'ready_for_pickup');
  await page.click('#refresh');
  await expectText(page.locator('#status'), 'Ready to collect');
  await expectVisible(page.locator('#pharmacy-box'));
  const [{ name: pharmacyName }] = await sql(`select name from pharmacy where code = ?`, [offered.workflow.offer.pharmacyCode]);
  await expectText(page.locator('#pharmacy-name'), pharmacyName);
  const [settled] = await sql(`select patient_pays_fen from settlement where prescription_id = ?`, [id]);
  await expectText(page.locator('#set-patient'), formatYuan(settled.patient_pays_fen));
  expect(await page.locator('#confirm-receipt').isDisabled()).toBe(true);

  expect((await pharmacy.post(`/v1/pharmacy/orders/${order.orderId}/collected`, { proof: { kind: 'code', reference: '482913' } })).status).toBe(202);
  await waitForPrescription(a.hospital, id, statusIs('delivered', 'follow_up', 'completed'));
  await page.click('#refresh');
  await expectText(page.locator('#status'), 'Collected');
  await expectEnabled(page.locator('#confirm-receipt'));
  await page.click('#confirm-receipt');
  await expectText(page.locator('#receipt-status'), /^Receipt confirmed \(.+\)\.$/);
  await expectText(page.locator('#timeline li[data-code="receipt_confirmed"]'), /You confirmed receipt$/);
  const [receipt] = await sql(`select actor from audit_event where prescription_id = ? and action = 'receipt_confirmed'`, [id]);
  expect(receipt.actor).toMatch(/^family:/);

  // The follow-up questions appear on this page once the plan sends them (answered through the link: patient.test.ts).
  expect(await page.locator('#followup-section').count()).toBe(1);

  fs.mkdirSync(ARTIFACTS, { recursive: true });
  await page.screenshot({ path: path.join(ARTIFACTS, 'patient-page.png'), fullPage: true });
  expect(dialogs).toEqual([]);
  expect(problems).toEqual([]);
  expect(requested.filter((u) => u.includes(link.body.token.split('.')[2]))).toEqual([]);
  await context.close();
});

it('says clearly when a link has expired, and runs no script from data', async () => {
  const a = actors();
  const pushed = await a.hospital.post('/v1/prescriptions', demoPrescription({ patient: { name: EVIL_NAME } }));
  const id = pushed.body.prescription.id as string;
  await waitForPrescription(a.hospital, id, statusIs('in_review'));
  const link = (await a.hospital.post(`/v1/prescriptions/${id}/patient-links`, { holder: 'patient' })).body;
  await sql(`update patient_link set expires_at = now() - interval '1 minute' where id = ?`, [link.link.id]);

  const context = await browser!.newContext({ locale: 'zh-CN' });
  const page = await context.newPage();
  const { problems, dialogs } = watch(page);
  await page.goto(`${apiUrl()}/p/#${link.token}`);
  await expectText(page.locator('#error-message'), '此链接已过期。请联系医院获取新的链接。');
  await expectText(page.locator('#error-code'), 'PATIENT_LINK_EXPIRED');
  expect(await page.locator('#app-view').isVisible()).toBe(false);
  await page.click('#lang-toggle');
  await expectText(page.locator('#error-message'), 'This link has expired. Please ask the hospital for a new one.');
  expect(problems).toEqual(['HTTP 401 GET /v1/patient/prescription']);

  // A live link for the same markup-named patient: the page shows the name and fires nothing.
  const live = (await a.hospital.post(`/v1/prescriptions/${id}/patient-links`, { holder: 'patient' })).body;
  await page.goto(`${apiUrl()}/p/#${live.token}`);
  await page.reload(); // a new fragment alone does not reload the page
  await expectText(page.locator('#patient-name'), EVIL_NAME);
  expect(dialogs).toEqual([]);
  await context.close();
});

async function expectText(locator: Locator, want: string | RegExp, timeoutMs = 15_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  let got: string | null = null;
  while (Date.now() < deadline) {
    got = (await locator.count()) ? await locator.first().textContent() : null;
    if (got !== null && (typeof want === 'string' ? got.trim() === want : want.test(got.trim()))) return;
    await new Promise((r) => setTimeout(r, 100));
  }
  throw new Error(`expected ${String(locator)} to show ${String(want)}, got ${JSON.stringify(got)}`);
}

async function expectVisible(locator: Locator, timeoutMs = 15_000): Promise<void> {
  await locator.waitFor({ state: 'visible', timeout: timeoutMs });
}

async function expectEnabled(locator: Locator, timeoutMs = 15_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    if (await locator.isEnabled()) return;
    await new Promise((r) => setTimeout(r, 100));
  }
  throw new Error(`expected ${String(locator)} to be enabled`);
}
