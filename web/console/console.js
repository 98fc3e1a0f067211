// The pharmacist console: log in, read the review queue, open a prescription (findings, patient context,
// lines, history), claim it, approve or reject with reasons. Plain ES module, no build. Every value from
// the API is put into the page as text (textContent), never as HTML. An endpoint this server lacks (404)
// shows its message where it is needed instead of breaking the page.
import { ApiFailure, get, post, useSession, whenSessionEnds } from './api.js';
import { applyStatic, currentLang, locale, setLang, t, tOr } from './i18n.js';

const $ = (id) => document.getElementById(id);
const el = (tag, cls, text) => {
  const e = document.createElement(tag);
  if (cls) e.className = cls;
  if (text !== undefined && text !== null) e.textContent = String(text);
  return e;
};

const state = {
  me: null,            // { id, code, name }
  queue: [],
  selectedId: null,
  detail: null,        // GET /v1/review-queue/:id
  claim: null,         // { pharmacistCode, expiresAt } | null
  claimsUnavailable: null, // the message when this server has no claim endpoint
  reasonCodes: null,   // [{ code, category, zh, en }] | null when unavailable
  reasonCodesError: null,
  notice: null,        // { msg, error } shown above the detail
  queueStatus: null,   // { msg, cls } under the queue's title
  // Decided here: the engine accepted the decision, but the queue may list it until the workflow has
  // recorded the new status, so it is left out rather than offered again.
  decided: new Set(),
};

// ---- formatting -----------------------------------------------------------------------------------------
const dash = '—';
function dateTime(v) {
  if (!v) return dash;
  const d = new Date(v);
  return Number.isNaN(d.getTime()) ? String(v) : d.toLocaleString(locale(), { timeZone: 'Asia/Shanghai', dateStyle: 'short', timeStyle: 'short' });
}
function clock(v) {
  const d = new Date(v);
  return Number.isNaN(d.getTime()) ? dash : d.toLocaleTimeString(locale(), { timeZone: 'Asia/Shanghai', hour: '2-digit', minute: '2-digit' });
}
function waited(since) {
  const ms = Date.now() - new Date(since).getTime();
  if (!Number.isFinite(ms) || ms < 0) return dash;
  const m = Math.floor(ms / 60000);
  if (m < 60) return currentLang() === 'zh' ? `${m} 分钟` : `${m} min`;
  const h = Math.floor(m / 60);
  return currentLang() === 'zh' ? `${h} 小时 ${m % 60} 分钟` : `${h} h ${m % 60} min`;
}
function ageOf(birthDate) {
  const b = new Date(birthDate);
  if (Number.isNaN(b.getTime())) return null;
  const now = new Date();
  let age = now.getFullYear() - b.getFullYear();
  if (now.getMonth() < b.getMonth() || (now.getMonth() === b.getMonth() && now.getDate() < b.getDate())) age -= 1;
  return age;
}
const statusLabel = (s) => tOr(`status.${s}`, s || dash);
// The contract's severities are info / warning / block; older findings say "serious" for block.
const severityOf = (f) => (f.severity === 'serious' ? 'block' : ['info', 'warning', 'block'].includes(f.severity) ? f.severity : 'warning');
const hospitalName = (x) => (x && typeof x.hospital === 'object' && x.hospital ? x.hospital.name || x.hospital.code : x && (x.hospitalName || x.hospital)) || '';
const flagsOf = (d) => (d && (d.flags || (d.prescription && d.prescription.flags))) || [];
const claimOf = (d) => (d ? d.claim ?? (d.prescription && d.prescription.claim) ?? null : null);

function show(id, visible) { $(id).hidden = !visible; }
function setText(id, text, cls) {
  const e = $(id);
  e.textContent = text || '';
  if (cls !== undefined) e.className = cls;
}
/** A message above the detail: text, or a function giving it, so a language switch can say it again. */
function notice(msg, error = false) {
  state.notice = msg ? { msg, error } : null;
  const text = typeof msg === 'function' ? msg() : msg;
  const e = $('detail-status');
  e.textContent = text || '';
  e.className = error ? 'error' : 'ok';
  e.hidden = !text;
}
const describe = (e) => (e instanceof ApiFailure ? e.describe() : e && e.message ? e.message : String(e));

// ---- session ------------------------------------------------------------------------------------------
async function boot() {
  applyStatic();
  $('lang-toggle').addEventListener('click', () => { setLang(currentLang() === 'zh' ? 'en' : 'zh'); rerender(); });
  $('login-form').addEventListener('submit', onLogin);
  $('logout').addEventListener('click', onLogout);
  $('refresh').addEventListener('click', () => { loadQueue(); loadExcursions(); });
  $('claim').addEventListener('click', onClaim);
  $('release').addEventListener('click', onRelease);
  $('decision-form').addEventListener('submit', onDecide);
  for (const r of document.querySelectorAll('input[name="decision"]')) r.addEventListener('change', renderDecisionForm);
  whenSessionEnds(() => showLogin(t('app.sessionEnded')));
  try {
    const s = await get('/console/session');
    await startApp(s);
  } catch (e) {
    showLogin(e instanceof ApiFailure && (e.status === 401) ? '' : describe(e));
  } finally {
    show('boot', false);
  }
}

function showLogin(message) {
  state.me = null;
  useSession(null);
  show('app-view', false);
  show('who', false);
  show('logout', false);
  show('login-view', true);
  setText('login-error', message || '');
  $('login-password').value = '';
  $('login-name').focus();
}

async function onLogin(ev) {
  ev.preventDefault();
  const login = $('login-name').value.trim();
  const password = $('login-password').value;
  if (!login || !password) return setText('login-error', t('login.missing'));
  setText('login-error', t('login.busy'));
  $('login-submit').disabled = true;
  try {
    const s = await post('/console/login', { login, password });
    setText('login-error', '');
    await startApp(s);
  } catch (e) {
    setText('login-error', describe(e));
    $('login-password').value = '';
  } finally {
    $('login-submit').disabled = false;
  }
}

async function onLogout() {
  try { await post('/console/logout'); } catch { /* the cookie is cleared either way */ }
  state.selectedId = null;
  state.detail = null;
  showLogin('');
}

async function startApp(s) {
  state.me = s.pharmacist;
  useSession(s);
  show('login-view', false);
  show('app-view', true);
  show('who', true);
  show('logout', true);
  $('who-name').textContent = `${s.pharmacist.name} · ${s.pharmacist.code}`;
  await Promise.all([loadQueue(), loadReasonCodes(), loadExcursions()]);
}

// ---- cold-chain excursions (docs/delivery.md): the parcel waits for a pharmacist's decision ----------------
async function loadExcursions() {
  try {
    const data = await get('/v1/cold-chain/excursions');
    state.excursions = (data && data.items) || [];
    state.excursionsError = null;
  } catch (e) {
    state.excursions = [];
    state.excursionsError = describe(e);
  }
  renderExcursions();
}

function renderExcursions() {
  const ul = $('cold-list');
  ul.replaceChildren();
  const items = state.excursions || [];
  $('cold-count').textContent = items.length ? `(${items.length})` : '';
  if (state.excursionsError) setText('cold-status', `${t('cold.failed')}: ${state.excursionsError}`, 'error');
  else setText('cold-status', items.length ? '' : t('cold.empty'), 'note');
  for (const x of items) {
    const li = el('li', 'queue-item cold-item');
    li.dataset.id = x.id;
    const top = el('div', 'qi-top');
    top.append(el('span', 'rx-no', x.rxNo), el('span', 'waited', t('queue.waiting', { d: waited(x.flaggedAt) })));
    const detail = x.detail || {};
    const mid = el('div', 'qi-mid', `${tOr(`cold.rule.${x.rule}`, x.rule)} · ${t('cold.range', { min: detail.minC, max: detail.maxC, n: (x.readings || []).length })}`);
    const badges = el('div', 'qi-badges');
    if (x.escalations) badges.append(el('span', 'badge escalated', t('queue.escalated', { n: x.escalations })));
    const reason = el('input');
    reason.type = 'text';
    reason.maxLength = 300;
    reason.placeholder = t('cold.reason');
    reason.setAttribute('aria-label', t('cold.reason'));
    const msg = el('p', 'note');
    const decide = (decision) => async () => {
      if (!reason.value.trim()) { msg.className = 'error'; msg.textContent = t('cold.reasonMissing'); return; }
      try {
        await post(`/v1/deliveries/${encodeURIComponent(x.deliveryId)}/cold-chain-decision`, { decision, reason: reason.value.trim(), excursionId: x.id });
        msg.className = 'note';
        msg.textContent = t('cold.decided');
        await loadExcursions();
      } catch (e) {
        msg.className = 'error';
        msg.textContent = describe(e);
      }
    };
    const go = el('button', 'secondary', t('cold.continue'));
    go.type = 'button';
    go.dataset.decision = 'continue';
    go.addEventListener('click', decide('continue'));
    const back = el('button', 'secondary', t('cold.return'));
    back.type = 'button';
    back.dataset.decision = 'return';
    back.addEventListener('click', decide('return'));
    li.append(top, mid, badges, reason, go, back, msg);
    ul.append(li);
  }
}

// ---- queue --------------------------------------------------------------------------------------------
async function loadQueue() {
  state.queueStatus = { msg: () => t('queue.loading'), cls: 'note' };
  renderQueueStatus();
  try {
    const data = await get('/v1/review-queue?limit=200');
    state.queue = ((data && data.items) || []).filter((i) => !state.decided.has(i.id));
    const at = clock(new Date());
    state.queueStatus = { msg: () => t('queue.updated', { t: at }), cls: 'note' };
  } catch (e) {
    state.queue = [];
    const why = describe(e);
    state.queueStatus = { msg: () => `${t('queue.failed')}: ${why}`, cls: 'error' };
  }
  renderQueueStatus();
  renderQueue();
}

function renderQueueStatus() {
  if (state.queueStatus) setText('queue-status', state.queueStatus.msg(), state.queueStatus.cls);
}

function renderQueue() {
  const ul = $('queue');
  ul.replaceChildren();
  $('queue-count').textContent = state.queue.length ? `(${state.queue.length})` : '';
  if (!state.queue.length && !$('queue-status').classList.contains('error')) ul.append(el('li', 'empty', t('queue.empty')));
  for (const item of state.queue) {
    const li = el('li', 'queue-item');
    li.dataset.id = item.id;
    if (item.id === state.selectedId) li.classList.add('selected');
    const btn = el('button');
    btn.type = 'button';
    btn.addEventListener('click', () => openPrescription(item.id));
    const top = el('div', 'qi-top');
    top.append(el('span', 'rx-no', item.rxNo), el('span', 'waited', t('queue.waiting', { d: waited(item.createdAt) })));
    const mid = el('div', 'qi-mid', [hospitalName(item), item.department].filter(Boolean).join(' · '));
    const badges = el('div', 'qi-badges');
    const counts = { block: 0, warning: 0, info: 0 };
    for (const f of item.flags || []) counts[severityOf(f)] += 1;
    for (const sev of ['block', 'warning', 'info']) {
      if (counts[sev]) badges.append(el('span', `badge sev-${sev}`, `${t(`sev.${sev}`)} ${counts[sev]}`));
    }
    const escalations = Array.isArray(item.escalations) ? item.escalations.length : Number(item.escalations || 0);
    if (escalations) badges.append(el('span', 'badge escalated', t('queue.escalated', { n: escalations })));
    const claim = item.claim;
    if (claim) {
      const mine = state.me && claim.pharmacistCode === state.me.code;
      badges.append(el('span', `badge ${mine ? 'claim-mine' : 'claim-other'}`, mine ? t('queue.claimedByMe') : t('queue.claimedBy', { who: claim.pharmacistCode })));
    }
    btn.append(top, mid, badges);
    li.append(btn);
    ul.append(li);
  }
}

// ---- one prescription ---------------------------------------------------------------------------------
async function openPrescription(id) {
  state.selectedId = id;
  state.detail = null;
  state.claim = null;
  renderQueue();
  show('detail-empty', false);
  show('detail', true);
  notice(() => t('detail.loading'));
  try {
    state.detail = await get(`/v1/review-queue/${encodeURIComponent(id)}`);
    state.claim = claimOf(state.detail);
    notice('');
  } catch (e) {
    const why = describe(e);
    notice(() => `${t('detail.failed')}: ${why}`, true);
  }
  renderDetail();
}

function renderDetail() {
  const d = state.detail;
  if (!d) {
    for (const id of ['findings', 'patient', 'diagnoses', 'rx-title', 'rx-meta', 'visit']) $(id).replaceChildren();
    for (const id of ['lines', 'history']) $(id).querySelector('tbody').replaceChildren();
    renderClaim();
    renderDecisionForm();
    return;
  }
  const rx = d.prescription || {};
  const content = rx;
  $('rx-title').replaceChildren(el('span', 'rx-no', rx.rxNo), el('span', `status status-${rx.status}`, statusLabel(rx.status)));
  // Parts the server does not send are left out rather than shown as blanks.
  $('rx-meta').textContent = t('detail.meta', {
    hospital: hospitalName(rx) || hospitalName(d),
    department: (content.visit && content.visit.department) || '',
    issued: dateTime(rx.issuedAt), expires: dateTime(rx.expiresAt),
    doctor: (content.doctor && (content.doctor.name || content.doctor.code)) || dash,
  }).split(' · ').filter((part) => part.trim()).join(' · ');
  renderFindings(flagsOf(d));
  renderPatient(d.patient || {});
  renderDiagnoses((d.patient && d.patient.diagnoses) || content.diagnoses || [], content.visit);
  renderLines(d.lines || rx.lines || []);
  renderHistory(d.history || (d.patient && d.patient.recentPrescriptions) || []);
  renderClaim();
  renderDecisionForm();
}

function renderFindings(flags) {
  const ul = $('findings');
  ul.replaceChildren();
  if (!flags.length) return ul.append(el('li', 'finding none', t('findings.none')));
  const order = { block: 0, warning: 1, info: 2 };
  for (const f of [...flags].sort((a, b) => order[severityOf(a)] - order[severityOf(b)])) {
    const sev = severityOf(f);
    const li = el('li', `finding sev-${sev}`);
    li.dataset.severity = sev;
    li.dataset.code = f.code || f.rule || '';
    const head = el('div', 'finding-head');
    head.append(el('span', `badge sev-${sev}`, t(`sev.${sev}`)), el('span', 'finding-code', f.code || f.rule || ''));
    if (f.code && f.rule && f.rule !== f.code) head.append(el('span', 'finding-rule', f.rule));
    if (Array.isArray(f.lines) && f.lines.length) head.append(el('span', 'finding-lines', t('findings.lines', { lines: f.lines.map((n) => n + 1).join(', ') })));
    li.append(head, el('p', 'finding-message', f.message));
    if (f.evidence !== undefined && f.evidence !== null) li.append(evidenceOf(f.evidence));
    ul.append(li);
  }
}

function evidenceOf(ev) {
  const box = el('div', 'evidence');
  box.append(el('span', 'evidence-label', `${t('findings.evidence')}: `));
  if (typeof ev !== 'object') {
    box.append(el('span', null, ev));
    return box;
  }
  const parts = Object.entries(ev).map(([k, v]) => `${k}: ${typeof v === 'object' ? JSON.stringify(v) : v}`);
  box.append(el('span', null, parts.join(' · ')));
  return box;
}

function renderPatient(p) {
  const dl = $('patient');
  dl.replaceChildren();
  const row = (key, value, cls) => {
    const dd = el('dd', cls, value === undefined || value === null || value === '' ? dash : value);
    dd.dataset.field = key;
    dl.append(el('dt', null, t(`patient.${key}`)), dd);
  };
  const sex = p.gender || p.sex;
  const age = p.age ?? (p.birthDate ? ageOf(p.birthDate) : null);
  row('name', p.name);
  row('sex', sex ? tOr(`sex.${sex}`, sex) : null);
  row('age', age === null || age === undefined ? null : t('patient.years', { n: age }));
  row('birthDate', p.birthDate);
  const allergies = (p.allergies || []).map((a) => (typeof a === 'string' ? a : a.name || a.substance || JSON.stringify(a)));
  row('allergies', allergies.length ? allergies.join('、') : t('patient.none'), allergies.length ? 'alert' : undefined);
  const pregnant = p.pregnant || p.lactating;
  row('pregnant', pregnant ? t('patient.yes') : t('patient.no'), pregnant ? 'alert' : undefined);
  if (p.guardian) row('guardian', typeof p.guardian === 'string' ? p.guardian : [p.guardian.name, p.guardian.relation, p.guardian.phone].filter(Boolean).join(' · '));
  if (p.renal || p.renalFunction) row('renal', typeof (p.renal || p.renalFunction) === 'object' ? JSON.stringify(p.renal || p.renalFunction) : (p.renal || p.renalFunction));
}

function renderDiagnoses(list, visit) {
  const ul = $('diagnoses');
  ul.replaceChildren();
  if (!list.length) ul.append(el('li', 'note', t('diagnoses.none')));
  for (const dx of list) ul.append(el('li', null, typeof dx === 'string' ? dx : [dx.code, dx.name].filter(Boolean).join(' ')));
  $('visit').textContent = visit && visit.priorDiagnosisRef ? t('visit.line', { ref: visit.priorDiagnosisRef }) : '';
}

function renderLines(lines) {
  const tbody = $('lines').querySelector('tbody');
  tbody.replaceChildren();
  for (const [i, l] of lines.entries()) {
    const tr = el('tr');
    const name = el('td');
    name.append(el('span', 'drug-name', l.drugName || l.name || l.drugCode), el('span', 'drug-code', l.drugCode || ''));
    tr.append(el('td', 'num', l.lineNo ?? i + 1), name, el('td', 'num', l.quantity), el('td', null, l.dosage), el('td', null, l.frequency), el('td', null, l.route), el('td', 'num', l.days));
    tbody.append(tr);
  }
}

function renderHistory(items) {
  const tbody = $('history').querySelector('tbody');
  tbody.replaceChildren();
  if (!items.length) {
    const tr = el('tr');
    const td = el('td', 'note', t('history.none'));
    td.colSpan = 3;
    tr.append(td);
    tbody.append(tr);
  }
  for (const h of items) {
    const tr = el('tr');
    tr.append(el('td', null, h.rxNo), el('td', null, statusLabel(h.status)), el('td', null, dateTime(h.issuedAt || h.createdAt)));
    tbody.append(tr);
  }
}

// ---- claim --------------------------------------------------------------------------------------------
const claimedByMe = () => !!(state.claim && state.me && state.claim.pharmacistCode === state.me.code);
const claimedByOther = () => !!(state.claim && state.me && state.claim.pharmacistCode !== state.me.code);

function renderClaim() {
  const s = $('claim-state');
  const inReview = state.detail && state.detail.prescription && state.detail.prescription.status === 'in_review';
  if (state.claimsUnavailable) {
    s.textContent = t('claim.unavailable', { msg: state.claimsUnavailable });
    s.className = 'warn';
  } else if (claimedByMe()) {
    s.textContent = t('claim.mine', { t: clock(state.claim.expiresAt) });
    s.className = 'mine';
  } else if (claimedByOther()) {
    s.textContent = t('claim.other', { who: state.claim.pharmacistCode, t: clock(state.claim.expiresAt) });
    s.className = 'other';
  } else {
    s.textContent = t('claim.none');
    s.className = '';
  }
  $('claim').hidden = claimedByMe() || !!state.claimsUnavailable;
  $('claim').disabled = !inReview || claimedByOther();
  $('release').hidden = !claimedByMe();
}

async function onClaim() {
  const id = state.selectedId;
  $('claim').disabled = true;
  try {
    const res = await post(`/v1/review-queue/${encodeURIComponent(id)}/claim`);
    state.claim = (res && res.claim) || { pharmacistCode: state.me.code, expiresAt: null };
    notice(() => t('claim.claimed'));
  } catch (e) {
    if (e instanceof ApiFailure && e.status === 404 && e.code === 'ROUTE_NOT_FOUND') {
      // This server has no claim endpoint (yet): say so, and let the pharmacist decide without a claim.
      state.claimsUnavailable = describe(e);
      notice('');
    } else {
      notice(describe(e), true);
      if (e instanceof ApiFailure && e.code === 'CLAIMED_BY_OTHER') await refreshDetail();
    }
  }
  renderClaim();
  renderDecisionForm();
  loadQueue();
}

async function onRelease() {
  const id = state.selectedId;
  try {
    await post(`/v1/review-queue/${encodeURIComponent(id)}/release`);
    state.claim = null;
    notice(() => t('claim.released'));
  } catch (e) {
    notice(describe(e), true);
  }
  renderClaim();
  renderDecisionForm();
  loadQueue();
}

async function refreshDetail() {
  try {
    state.detail = await get(`/v1/review-queue/${encodeURIComponent(state.selectedId)}`);
    state.claim = claimOf(state.detail);
  } catch { /* keep what is on screen */ }
  renderDetail();
}

// ---- reasons and decision -----------------------------------------------------------------------------
async function loadReasonCodes() {
  setText('reasons-status', t('reasons.loading'), 'note');
  try {
    const data = await get('/v1/review/reason-codes');
    state.reasonCodes = (data && data.items) || [];
    state.reasonCodesError = null;
  } catch (e) {
    state.reasonCodes = null;
    state.reasonCodesError = describe(e);
  }
  renderReasons();
}

function renderReasons() {
  const box = $('reasons');
  const checked = new Set([...box.querySelectorAll('input:checked')].map((i) => i.value));
  box.replaceChildren();
  if (!state.reasonCodes) {
    setText('reasons-status', state.reasonCodesError ? t('reasons.failed', { msg: state.reasonCodesError }) : '', 'error');
    show('reason-text-box', true);
    return;
  }
  setText('reasons-status', '', 'note');
  show('reason-text-box', false);
  const byCategory = new Map();
  for (const r of state.reasonCodes) {
    if (!byCategory.has(r.category)) byCategory.set(r.category, []);
    byCategory.get(r.category).push(r);
  }
  for (const [category, items] of byCategory) {
    const group = el('fieldset', 'reason-group');
    group.append(el('legend', null, category));
    for (const r of items) {
      const label = el('label', 'reason');
      const input = el('input');
      input.type = 'checkbox';
      input.name = 'reason';
      input.value = r.code;
      input.checked = checked.has(r.code);
      label.append(input, el('span', 'reason-code', r.code), el('span', null, currentLang() === 'zh' ? r.zh : r.en));
      group.append(label);
    }
    box.append(group);
  }
}

function selectedReasons() {
  if (state.reasonCodes) return [...$('reasons').querySelectorAll('input:checked')].map((i) => i.value);
  return $('reason-text').value.split('\n').map((s) => s.trim()).filter(Boolean);
}

const decisionValue = () => (document.querySelector('input[name="decision"]:checked') || {}).value || 'approve';
const hasBlocking = () => flagsOf(state.detail).some((f) => severityOf(f) === 'block');

function renderDecisionForm() {
  const d = state.detail;
  const inReview = !!(d && d.prescription && d.prescription.status === 'in_review');
  // Once decided (here or elsewhere) there is nothing left to decide: the status says what happened.
  $('decision-form').hidden = !!d && !inReview;
  $('override-box').hidden = !(hasBlocking() && decisionValue() === 'approve');
  let hint = '';
  if (!inReview) hint = d ? statusLabel(d.prescription && d.prescription.status) : '';
  else if (claimedByOther()) hint = t('decision.claimedByOther');
  else if (!claimedByMe() && !state.claimsUnavailable) hint = t('decision.needClaim');
  $('decision-hint').textContent = hint;
  $('submit-decision').disabled = !inReview || claimedByOther() || (!claimedByMe() && !state.claimsUnavailable);
}

async function onDecide(ev) {
  ev.preventDefault();
  const d = state.detail;
  if (!d) return;
  const decision = decisionValue();
  const reasons = selectedReasons();
  if (decision === 'reject' && !reasons.length) return notice(() => t('decision.needReason'), true);
  const body = { decision, reasons };
  const comment = $('comment').value.trim();
  if (comment) body.comment = comment;
  const override = $('override-reason').value.trim();
  if (decision === 'approve' && override) body.overrideReason = override;
  $('submit-decision').disabled = true;
  notice(() => t('decision.busy'));
  try {
    await post(`/v1/prescriptions/${encodeURIComponent(state.selectedId)}/review`, body);
    const rxNo = d.prescription.rxNo;
    state.decided.add(state.selectedId);
    d.prescription.status = decision === 'approve' ? 'approved' : 'rejected';
    state.claim = null;
    $('comment').value = '';
    $('override-reason').value = '';
    $('reason-text').value = '';
    for (const i of $('reasons').querySelectorAll('input:checked')) i.checked = false;
    renderDetail();
    notice(() => t(decision === 'approve' ? 'decision.approved' : 'decision.rejected', { rxNo }));
    await loadQueue();
  } catch (e) {
    notice(describe(e), true);
    renderDecisionForm();
  }
}

function rerender() {
  renderQueueStatus();
  renderQueue();
  renderExcursions();
  renderReasons();
  renderDetail();
  const n = state.notice;
  if (n) notice(n.msg, n.error);
}

boot();
