// The pharmacist console in headless Chromium against the real engine: a hospital pushes a prescription
// with an interaction; the pharmacist logs in, finds it in the queue, reads the findings and the patient's
// context, claims it and approves it over the blocking finding with a reason; the screenshots are in
// .stack/test-artifacts/console-*.png.
import fs from 'node:fs';
import path from 'node:path';
import { type Browser, type Locator, type Page } from 'playwright-core';
import { launchChromium } from '../support/chromium';
import { actions, actors, apiUrl, closeDb, sql } from './helpers';
import { statusIs, waitForPrescription } from '../../demo/actors';
import { demoPrescription } from '../../demo/prescriptions';
import { DEMO } from '../../demo/fixtures';

const ARTIFACTS = path.resolve(__dirname, '../../.stack/test-artifacts');
const PASSWORD = DEMO.pharmacistLogins[0].password;

let browser: Browser | undefined;

beforeAll(async () => {
  browser = await launchChromium();
});

afterAll(async () => {
  await browser?.close();
  await closeDb();
});

/** Everything that goes wrong in the page: script errors, CSP violations, failed requests. */
function watch(page: Page) {
  const problems: string[] = [];
  const missing: string[] = [];
  page.on('pageerror', (e) => problems.push(`page error: ${e.message}`));
  page.on('console', (m) => { if (m.type() === 'error' && !/status of 4\d\d/.test(m.text())) problems.push(`console: ${m.text()}`); });
  page.on('response', (r) => {
    const url = new URL(r.url());
    if (r.status() === 404 && /^\/v1\/(review\/reason-codes|review-queue\/[^/]+\/(claim|release))$/.test(url.pathname)) missing.push(url.pathname.replace(/[0-9a-f-]{36}/, ':id'));
    else if (r.status() >= 400 && !(r.status() === 401 && ['/console/login', '/console/session'].includes(url.pathname))) problems.push(`HTTP ${r.status()} ${r.request().method()} ${url.pathname}`);
  });
  return { problems, missing };
}

it('logs in, opens a pushed prescription from the queue, reads its findings and patient, claims and approves it', async () => {
  // An ACE inhibitor with an ARB: the automated review flags the pair.
  const a = actors();
  const rx = demoPrescription({ drugs: [{ name: '马来酸依那普利片' }, { name: '缬沙坦胶囊' }] });
  const pushed = await a.hospital.post('/v1/prescriptions', rx);
  expect(pushed.status).toBe(201);
  const id = pushed.body.prescription.id as string;
  await waitForPrescription(a.hospital, id, statusIs('in_review'));
  const expected = (await a.pharmacist.get(`/v1/review-queue/${id}`)).body;
  const flags = (expected.flags ?? expected.prescription.flags) as { message: string; severity: string }[];
  expect(flags.length).toBeGreaterThan(0);
  const blocking = flags.some((f) => ['block', 'serious'].includes(f.severity));

  const context = await browser!.newContext({ viewport: { width: 1400, height: 1100 }, locale: 'zh-CN' });
  const page = await context.newPage();
  const { problems, missing } = watch(page);
  await page.goto(`${apiUrl()}/console`);

  // A wrong password is refused with the API's message; the right one opens the console.
  await page.locator('#login-view').waitFor({ state: 'visible' });
  await expectText(page.locator('#login-form h2'), '药师登录');
  await page.fill('#login-name', 'P001');
  await page.fill('#login-password', 'wrong-password-here');
  await page.click('#login-submit');
  await expectText(page.locator('#login-error'), /INVALID_CREDENTIALS/);
  await page.fill('#login-password', PASSWORD);
  await page.click('#login-submit');
  await page.locator('#app-view').waitFor({ state: 'visible' });
  // The cold-chain task list loads beside the queue (empty, or the excursions other tests left open).
  await expectText(page.locator('#cold-title [data-i18n="cold.title"]'), '冷链异常');
  await page.locator('#cold-status.note').waitFor({ state: 'attached' });
  await expectText(page.locator('#who-name'), `${DEMO.pharmacists[0].name} · P001`);
  // The session cookie is not readable from the page.
  expect(await page.evaluate(() => (globalThis as any).document.cookie)).not.toContain('rx_session');

  const item = page.locator(`#queue li[data-id="${id}"]`);
  await item.waitFor();
  await expectText(item.locator('.rx-no'), rx.rxNo);
  await item.locator('button').click();

  await expectText(page.locator('#rx-title .rx-no'), rx.rxNo);
  await expectText(page.locator('#rx-title .status'), '待审核');
  // Every finding the engine stored is on the page, with its message.
  await expectCount(page.locator('#findings li.finding[data-severity]'), flags.length);
  for (const f of flags) expect(await page.locator('#findings li.finding .finding-message', { hasText: f.message }).count()).toBe(1);
  // The patient's context.
  await expectText(page.locator('#patient dd[data-field="name"]'), '张建国');
  await expectText(page.locator('#patient dd[data-field="sex"]'), '男');
  await expectText(page.locator('#patient dd[data-field="age"]'), /^\d+ 岁$/);
  await expectText(page.locator('#patient dd[data-field="allergies"]'), '青霉素');
  await expectText(page.locator('#diagnoses li').first(), 'I10 原发性高血压');
  await expectCount(page.locator('#lines tbody tr'), 2);
  await expectText(page.locator('#lines tbody tr').first().locator('.drug-name'), /依那普利/);

  // Reason codes come from GET /v1/review/reason-codes; without that endpoint the page says so.
  if (await page.locator('#reasons input[type="checkbox"]').count() === 0) {
    await expectText(page.locator('#reasons-status'), /ROUTE_NOT_FOUND/);
    await expect(page.locator('#reason-text-box').isVisible()).resolves.toBe(true);
  }

  // Claim, then decide. The decision waits for the claim.
  expect(await page.locator('#submit-decision').isDisabled()).toBe(true);
  await page.click('#claim');
  const claimState = page.locator('#claim-state');
  await expectText(claimState, /^已由您认领，至 \d\d:\d\d$/);
  await expect(page.locator('#release').isVisible()).resolves.toBe(true);
  expect(await page.locator('#submit-decision').isDisabled()).toBe(false);

  // Approving over a blocking finding needs the override reason.
  expect(await page.locator('#override-box').isVisible()).toBe(blocking);
  if (blocking) await page.fill('#override-reason', '患者长期联用，血钾与肾功能监测正常，医生已确认');
  await page.fill('#comment', '控制台端到端测试');
  fs.mkdirSync(ARTIFACTS, { recursive: true });
  await page.screenshot({ path: path.join(ARTIFACTS, 'console-review.png'), fullPage: true });
  await page.click('#submit-decision');
  await expectText(page.locator('#detail-status'), `已通过处方 ${rx.rxNo}。`);
  await expectCount(page.locator(`#queue li[data-id="${id}"]`), 0);
  expect(await page.locator('#decision-form').isVisible()).toBe(false); // nothing left to decide

  // The engine has it: approved by P001, the workflow moved on.
  await waitForPrescription(a.hospital, id, (d) => d.prescription.status !== 'in_review');
  expect(await actions(id)).toContain('review_approved');
  const [review] = await sql(`select r.decision, r.comment, p.code from review r join pharmacist p on p.id = r.pharmacist_id where r.prescription_id = ?`, [id]);
  expect(review).toMatchObject({ decision: 'approved', code: 'P001', comment: '控制台端到端测试' });

  // English labels at the flick of a switch; the choice is remembered.
  await page.click('#lang-toggle');
  await expectText(page.locator('#queue-pane [data-i18n="queue.title"]'), 'Review queue');
  await expectText(page.locator('#detail-status'), `Prescription ${rx.rxNo} approved.`);
  await expectText(page.locator('#patient dd[data-field="sex"]'), 'male');
  await expectText(page.locator('#queue-status'), /^updated \d\d:\d\d$/);
  expect(await page.evaluate(() => (globalThis as any).document.documentElement.lang)).toBe('en-GB');
  await page.screenshot({ path: path.join(ARTIFACTS, 'console-approved-en.png'), fullPage: true });

  expect(problems).toEqual([]);

  // Logout ends the session in this browser.
  await page.click('#logout');
  await page.locator('#login-view').waitFor({ state: 'visible' });
  expect(await page.evaluate(async () => (await fetch('/v1/review-queue')).status)).toBe(401);
  await page.reload();
  await page.locator('#login-view').waitFor({ state: 'visible' });
  await expectText(page.locator('#login-form h2'), 'Pharmacist login');

  expect(problems).toEqual(['HTTP 401 GET /v1/review-queue']); // our own probe after logout
  expect(missing).toEqual([]); // the review endpoints (claim, reason codes) all answered
  await context.close();
});

it('shows what a failing decision says instead of failing silently', async () => {
  const a = actors();
  const rx = demoPrescription();
  const pushed = await a.hospital.post('/v1/prescriptions', rx);
  const id = pushed.body.prescription.id as string;
  await waitForPrescription(a.hospital, id, statusIs('in_review'));

  const context = await browser!.newContext({ locale: 'en-US' });
  const page = await context.newPage();
  const { problems } = watch(page);
  await page.goto(`${apiUrl()}/console`);
  await page.fill('#login-name', 'zhao');
  await page.fill('#login-password', PASSWORD);
  await page.click('#login-submit');
  await expectText(page.locator('#who-name'), `${DEMO.pharmacists[1].name} · P002`);
  await page.locator(`#queue li[data-id="${id}"] button`).click();
  await expectText(page.locator('#rx-title .rx-no'), rx.rxNo);
  await page.click('#claim');
  await expectText(page.locator('#claim-state'), /Claimed by you|Claiming is not available/);

  // A rejection without a reason is stopped in the page; then the hospital cancels under our feet and the
  // engine's refusal is shown as it is.
  await page.check('#decision-reject');
  expect(await page.locator('#override-box').isVisible()).toBe(false);
  await page.click('#submit-decision');
  await expectText(page.locator('#detail-status.error'), 'A rejection needs at least one reason.');
  expect((await a.hospital.post(`/v1/prescriptions/${id}/cancel`, { reason: '患者要求取消' })).status).toBe(202);
  await waitForPrescription(a.hospital, id, statusIs('cancelled'));
  await page.check('#decision-approve');
  await page.click('#submit-decision');
  await expectText(page.locator('#detail-status.error'), /^[A-Z_]+: .+/);
  await context.close();
  expect(problems.filter((p) => !/HTTP 409 POST \/v1\/prescriptions\/.+\/review/.test(p))).toEqual([]);
});

/** Polls a locator's text until it matches (the page renders after its fetches). */
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

async function expectCount(locator: Locator, want: number, timeoutMs = 15_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  let got = -1;
  while (Date.now() < deadline) {
    got = await locator.count();
    if (got === want) return;
    await new Promise((r) => setTimeout(r, 100));
  }
  throw new Error(`expected ${want} of ${String(locator)}, found ${got}`);
}
