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
  if (p.precheck) {
    text('pay-total', p.precheck.total?.text);
    text('pay-insurer', p.precheck.insurerPays?.text);
    text('pay-commercial', p.precheck.commercialPays?.text);
    text('pay-patient', p.precheck.patientPays?.text);
    show('self-pay-note', p.precheck.selfPayFallback);
  }
  show('settlement', Boolean(p.settlement));
  if (p.settlement) {
    text('set-total', p.settlement.total?.text);
    text('set-insurer', p.settlement.insurerPays?.text);
    text('set-commercial', p.settlement.commercialPays?.text);
    text('set-patient', p.settlement.patientPays?.text);
  }
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

/** FOLLOW-UPS (integrator): fill #followup-list and #side-effect-form-box from the follow-up routes, then unhide. */
function renderFollowUps(plan) {
  show('followup-section', false);
  show('side-effect-section', false);
  void plan;
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
  render();
});

setLang(currentLang());
$('lang-toggle').textContent = t('app.toggle');
$('lang-toggle').lang = currentLang() === 'zh' ? 'en' : 'zh';
applyStatic();
load();
// Where it is now: refreshed while the page is open and visible.
setInterval(() => { if (!document.hidden && !lastError) load(); }, 5000);
