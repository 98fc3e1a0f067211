// The patient page (docs/patient.md). The link's token is in the URL fragment (never sent to a server or
// in a Referer); every data call sends it as a bearer token. Everything from the engine is inserted with
// textContent: a name like <img onerror=…> shows as text.
import { applyStatic, currentLang, locale, pick, setLang, t } from './i18n.js';

const $ = (id) => document.getElementById(id);
const token = decodeURIComponent(location.hash.replace(/^#/, '')).trim();
let view = null;
let lastError = null;

async function api(method, path, body) {
  const res = await fetch(path, {
    method,
    headers: { authorization: `Bearer ${token}`, accept: 'application/json', ...(body ? { 'content-type': 'application/json' } : {}) },
    body: body ? JSON.stringify(body) : undefined,
    cache: 'no-store',
  });
  const data = await res.json().catch(() => null);
  if (!res.ok) {
    const err = new Error(data?.error?.message ?? `HTTP ${res.status}`);
    err.status = res.status;
    err.code = data?.error?.code ?? 'HTTP_' + res.status;
    throw err;
  }
  return data;
}

const text = (id, value) => { $(id).textContent = value ?? ''; };
const show = (id, on) => { $(id).hidden = !on; };
const when = (iso) => (iso ? new Date(iso).toLocaleString(locale(), { month: 'numeric', day: 'numeric', hour: '2-digit', minute: '2-digit' }) : '');

function showError(code, message) {
  lastError = { code, message };
  show('boot', false);
  show('app-view', false);
  show('error-view', true);
  const known = ['PATIENT_LINK_EXPIRED', 'PATIENT_LINK_REVOKED', 'PATIENT_LINK_INVALID', 'NO_TOKEN'].includes(code);
  text('error-message', known ? t(`error.${code}`) : t('error.other', { message }));
  text('error-code', code);
  $('error-view').dataset.code = code;
}

function render() {
  if (lastError) return showError(lastError.code, lastError.message);
  if (!view) return;
  show('boot', false);
  show('error-view', false);
  show('app-view', true);
  const v = view;
  text('holder', t('holder.view', { label: pick(v.holder.label) }));
  $('holder').dataset.kind = v.holder.kind;
  text('status', pick(v.prescription.status));
  $('status').dataset.code = v.prescription.status.code;
  text('rx-no', v.prescription.rxNo);
  text('hospital', v.prescription.hospital);
  text('patient-name', v.patient.name);
  text('patient-id', v.patient.idNumber ?? '—');

  show('pharmacy-box', Boolean(v.pharmacy));
  if (v.pharmacy) { text('pharmacy-name', v.pharmacy.name); text('pharmacy-address', v.pharmacy.address); }
  show('delivery-box', Boolean(v.delivery));
  if (v.delivery) {
    text('delivery-status', pick(v.delivery.words));
    show('eta-line', Boolean(v.delivery.eta));
    text('eta', when(v.delivery.eta));
  }
  const list = $('timeline');
  list.replaceChildren(...v.timeline.map((e) => {
    const li = document.createElement('li');
    li.dataset.code = e.code;
    const time = document.createElement('time');
    time.dateTime = e.at;
    time.textContent = when(e.at);
    li.append(time, document.createTextNode(pick(e)));
    return li;
  }));

  const p = v.payment;
  show('pay-none', !p.precheck && !p.settlement);
  show('precheck', Boolean(p.precheck));
  // The pre-check's and the settlement's amounts fill the same four rows, under their own prefix.
  const amounts = (prefix, a) => {
    text(`${prefix}-total`, a.total?.text);
    text(`${prefix}-insurer`, a.insurerPays?.text);
    text(`${prefix}-commercial`, a.commercialPays?.text);
    text(`${prefix}-patient`, a.patientPays?.text);
  };
  if (p.precheck) {
    amounts('pay', p.precheck);
    show('self-pay-note', p.precheck.selfPayFallback);
  }
  show('settlement', Boolean(p.settlement));
  if (p.settlement) amounts('set', p.settlement);
  show('pay-reversed', p.reversed);

  const f = v.fulfilment;
  text('choice-current', f.mode === 'pickup' ? t('choice.current.pickup') : t('choice.current.delivery', { address: f.address }));
  $('choice-current').dataset.mode = f.mode;
  $('choice-fields').disabled = !f.canChange;
  show('choice-locked', !f.canChange);
  if (!$('choice-form').dataset.dirty) {
    $(f.mode === 'pickup' ? 'mode-pickup' : 'mode-delivery').checked = true;
    $('address-text').value = f.address ?? '';
  }
  syncAddressBox();

  const r = v.receipt;
  $('confirm-receipt').disabled = !r.canConfirm;
  if (r.confirmedAt) setStatus('receipt-status', t('receipt.done', { at: when(r.confirmedAt) }), 'ok');
  else if (!r.canConfirm) setStatus('receipt-status', t('receipt.notYet'));
  else if ($('receipt-status').className !== 'error') setStatus('receipt-status', '');
  renderFollowUps(v.followUps);
}

/** Builds an element with attributes and children; text is always text (never parsed as markup). */
function el(tag, attrs = {}, ...children) {
  const e = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs)) {
    if (v === undefined || v === null || v === false) continue;
    if (k === 'text') e.textContent = v; else e.setAttribute(k, v === true ? '' : String(v));
  }
  for (const c of children) if (c) e.append(c);
  return e;
}
const field = (labelKey, control) => el('label', {}, el('span', { text: t(labelKey) }), el('br'), control);
const select = (name, values, prefix) => el('select', { name }, ...values.map((v) => el('option', { value: v, text: t(`${prefix}.${v}`) })));

/** One open follow-up's questions: adherence and side effects (check-in), or continue-or-not (refill). */
function followUpForm(f) {
  const form = el('form', { class: 'followup', 'data-id': f.id, 'data-kind': f.kind });
  form.append(el('h3', { text: t(`followup.kind.${f.kind}`) }));
  if (f.kind === 'refill_reminder') {
    form.append(field('followup.continue', select('continue', ['yes', 'no'], 'followup.continue')), field('followup.note', el('textarea', { name: 'note', rows: 2, maxlength: 500 })));
  } else {
    const adherence = select('adherence', ['as_prescribed', 'missed_doses', 'stopped'], 'followup.adherence');
    const missed = field('followup.missed', el('input', { name: 'missedDoses', type: 'number', min: 1, max: 500, inputmode: 'numeric' }));
    const reason = field('followup.stopReason', select('stopReason', ['side_effect', 'felt_better', 'not_working', 'cost', 'doctor_advice', 'other'], 'followup.stop'));
    const effectBox = el('div', { class: 'effect' },
      field('followup.reaction', el('input', { name: 'reaction', maxlength: 60 })),
      field('followup.description', el('textarea', { name: 'description', rows: 3, maxlength: 2000 })),
      field('followup.onset', el('input', { name: 'onsetDate', type: 'date' })),
      field('followup.severity', select('severity', ['mild', 'moderate', 'severe'], 'followup.severity')),
      field('followup.serious', select('serious', ['none', 'hospitalisation', 'life_threatening', 'disability', 'other_important'], 'followup.serious')));
    const had = el('input', { name: 'hadEffect', type: 'checkbox' });
    form.append(field('followup.adherence', adherence), missed, reason, el('label', {}, had, el('span', { text: ` ${t('followup.hadEffect')}` })), effectBox);
    const sync = () => { missed.hidden = adherence.value !== 'missed_doses'; reason.hidden = adherence.value !== 'stopped'; effectBox.hidden = !had.checked; };
    adherence.addEventListener('change', sync);
    had.addEventListener('change', sync);
    sync();
  }
  form.append(el('button', { type: 'submit', text: t('followup.submit') }));
  form.addEventListener('submit', (ev) => { ev.preventDefault(); void sendAnswer(form); });
  return form;
}

/** The answer in the questionnaire's shape (domain/follow-up.ts, fu-1), or null when something is missing. */
function answerOf(form) {
  const v = (name) => form.elements[name]?.value?.trim() ?? '';
  const respondent = { relation: view.holder.kind === 'family' ? 'family' : 'self' };
  if (form.dataset.kind === 'refill_reminder') {
    return { respondent, refill: { continue: v('continue') === 'yes', ...(v('note') ? { note: v('note') } : {}) } };
  }
  const status = v('adherence');
  const adherence = status === 'missed_doses' ? { status, missedDoses: Number(v('missedDoses')) }
    : status === 'stopped' ? { status, reason: v('stopReason') } : { status };
  if (status === 'missed_doses' && !(adherence.missedDoses >= 1)) return null;
  let sideEffects = { any: false };
  if (form.elements.hadEffect.checked) {
    if (!v('reaction') || !v('description') || !v('onsetDate')) return null;
    sideEffects = { any: true, reaction: v('reaction'), description: v('description'), onsetDate: v('onsetDate'), severity: v('severity'), serious: v('serious') === 'none' ? [] : [v('serious')] };
  }
  return { respondent, adherence, sideEffects };
}

async function sendAnswer(form) {
  const answer = answerOf(form);
  if (!answer) return setStatus('followup-status', t('followup.fill'), 'error');
  const button = form.querySelector('button');
  button.disabled = true;
  setStatus('followup-status', t('followup.sending'));
  try {
    const r = await api('POST', `/v1/patient/follow-ups/${encodeURIComponent(form.dataset.id)}/answers`, answer);
    setStatus('followup-status', t(r.sideEffectReported ? 'followup.thanksEffect' : r.renewalRequested ? 'followup.thanksRenewal' : 'followup.thanks'), 'ok');
    await load();
  } catch (e) {
    setStatus('followup-status', `${e.code}: ${e.message}`, 'error');
    button.disabled = false;
  }
}

/** The plan: what was answered, and a form for each question still open. */
function renderFollowUps(plan) {
  const steps = (plan ?? []).filter((f) => f.kind !== 'close');
  show('followup-section', steps.some((f) => f.open || f.answeredAt || f.status === 'unanswered'));
  show('side-effect-section', steps.length > 0);
  const done = $('followup-done');
  done.replaceChildren(...steps.filter((f) => !f.open && (f.answeredAt || f.status === 'unanswered')).map((f) => el('li', {
    'data-id': f.id, 'data-status': f.status,
    text: f.answeredAt ? t('followup.answered', { kind: t(`followup.kind.${f.kind}`), at: when(f.answeredAt) }) : t('followup.unanswered', { kind: t(`followup.kind.${f.kind}`) }),
  })));
  // Forms being filled in are kept across the periodic refresh; new open steps are added, answered ones go.
  const list = $('followup-list');
  const open = steps.filter((f) => f.open);
  for (const form of [...list.children]) if (!open.some((f) => f.id === form.dataset.id)) form.remove();
  for (const f of open) if (!list.querySelector(`form[data-id="${CSS.escape(f.id)}"]`)) list.append(followUpForm(f));
}

function syncAddressBox() {
  show('address-box', $('mode-delivery').checked);
}

async function load() {
  if (!token) return showError('NO_TOKEN', '');
  try {
    view = await api('GET', '/v1/patient/prescription');
    lastError = null;
    render();
  } catch (e) {
    if (e.status === 401) showError(e.code, e.message);
    else if (!view) showError(e.code ?? 'network', e.message ?? t('error.network'));
  }
}

function setStatus(id, msg, kind) {
  const el = $(id);
  el.textContent = msg;
  el.className = kind ?? '';
}

$('choice-form').addEventListener('input', () => { $('choice-form').dataset.dirty = '1'; syncAddressBox(); });
$('choice-form').addEventListener('submit', async (ev) => {
  ev.preventDefault();
  const mode = $('mode-pickup').checked ? 'pickup' : 'delivery';
  const addressText = $('address-text').value.trim();
  const body = { mode };
  if (mode === 'delivery') {
    if (addressText.length < 4) return setStatus('choice-status', t('choice.addressNeeded'), 'error');
    if (addressText !== view?.fulfilment.address) body.address = { text: addressText };
  }
  setStatus('choice-status', t('choice.saving'));
  $('choice-submit').disabled = true;
  try {
    view = await api('PUT', '/v1/patient/fulfilment', body);
    delete $('choice-form').dataset.dirty;
    setStatus('choice-status', t('choice.saved'), 'ok');
    render();
  } catch (e) {
    setStatus('choice-status', e.code === 'FULFILMENT_LOCKED' ? t('choice.locked') : `${e.code}: ${e.message}`, 'error');
    await load();
  } finally {
    $('choice-submit').disabled = false;
  }
});

$('confirm-receipt').addEventListener('click', async () => {
  $('confirm-receipt').disabled = true;
  try {
    const r = await api('POST', '/v1/patient/receipt');
    setStatus('receipt-status', t('receipt.done', { at: when(r.receipt.confirmedAt) }), 'ok');
    await load();
  } catch (e) {
    setStatus('receipt-status', e.code === 'NOT_RECEIVED_YET' ? t('receipt.notYet') : `${e.code}: ${e.message}`, 'error');
    await load();
  }
});

$('refresh').addEventListener('click', () => load());
$('lang-toggle').addEventListener('click', () => {
  setLang(currentLang() === 'zh' ? 'en' : 'zh');
  $('lang-toggle').textContent = t('app.toggle');
  $('lang-toggle').lang = currentLang() === 'zh' ? 'en' : 'zh';
  applyStatic();
  $('followup-list').replaceChildren(); // rebuilt in the new language
  render();
});

setLang(currentLang());
$('lang-toggle').textContent = t('app.toggle');
$('lang-toggle').lang = currentLang() === 'zh' ? 'en' : 'zh';
applyStatic();
load();
// Where it is now: refreshed while the page is open and visible.
setInterval(() => { if (!document.hidden && !lastError) load(); }, 5000);
