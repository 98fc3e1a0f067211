// The patient page's words in Chinese (first) and English. Static labels carry data-i18n="key"; text from
// the engine comes with both languages ({ zh, en }) and is picked here. The choice is kept in localStorage.
const WORDS = {
  zh: {
    'app.title': '我的处方', 'app.loading': '正在加载…', 'app.refresh': '刷新', 'app.toggle': 'English',
    'error.title': '无法打开此链接',
    'error.PATIENT_LINK_EXPIRED': '此链接已过期。请联系医院获取新的链接。',
    'error.PATIENT_LINK_REVOKED': '此链接已被撤回。请联系医院获取新的链接。',
    'error.PATIENT_LINK_INVALID': '此链接无效（可能不完整或已被修改）。请重新打开短信中的链接。',
    'error.NO_TOKEN': '链接不完整：请从短信或医院提供的完整链接打开本页。',
    'error.network': '网络不可用，请稍后再试。',
    'error.other': '出错了：{message}',
    'holder.view': '查看身份：{label}',
    'status.title': '处方进度', 'status.rxNo': '处方号', 'status.hospital': '开方医院', 'status.patient': '患者', 'status.idNumber': '身份证号',
    'pharmacy.title': '药店', 'delivery.title': '配送', 'delivery.eta': '预计送达', 'timeline.title': '进度记录',
    'pay.title': '费用', 'pay.none': '医保预结算完成后显示费用。', 'pay.precheck': '预结算', 'pay.settlement': '配药后结算',
    'pay.total': '药费合计', 'pay.insurer': '医保支付', 'pay.commercial': '商业保险支付', 'pay.patient': '个人支付',
    'pay.selfPay': '医保暂时无法结算，已按您的同意以自费计价。', 'pay.reversed': '结算已撤销，费用将退回。',
    'choice.title': '配送方式', 'choice.delivery': '送药上门', 'choice.pickup': '到店自取', 'choice.address': '收货地址', 'choice.save': '保存',
    'choice.current.delivery': '当前：送药上门至 {address}', 'choice.current.pickup': '当前：到店自取',
    'choice.locked': '药店已在安排中，配送方式和地址不能再更改。如需更改请联系药店。',
    'choice.saved': '已保存。', 'choice.saving': '正在保存…', 'choice.addressNeeded': '请填写完整的收货地址。',
    'receipt.title': '确认收药', 'receipt.hint': '收到药品后请在这里确认。', 'receipt.confirm': '我已收到药品',
    'receipt.done': '已确认收药（{at}）。', 'receipt.notYet': '药品送达或取药后才能确认。',
    'followup.title': '随访问题', 'sideEffect.title': '报告不良反应',
  },
  en: {
    'app.title': 'My prescription', 'app.loading': 'Loading…', 'app.refresh': 'Refresh', 'app.toggle': '中文',
    'error.title': 'This link cannot be opened',
    'error.PATIENT_LINK_EXPIRED': 'This link has expired. Please ask the hospital for a new one.',
    'error.PATIENT_LINK_REVOKED': 'This link was withdrawn. Please ask the hospital for a new one.',
    'error.PATIENT_LINK_INVALID': 'This link is not valid (incomplete or altered). Please open the link from your SMS again.',
    'error.NO_TOKEN': 'The link is incomplete: open this page from the full link in your SMS or from the hospital.',
    'error.network': 'No connection; please try again later.',
    'error.other': 'Something went wrong: {message}',
    'holder.view': 'Viewing as: {label}',
    'status.title': 'Where it is', 'status.rxNo': 'Prescription no.', 'status.hospital': 'Hospital', 'status.patient': 'Patient', 'status.idNumber': 'ID number',
    'pharmacy.title': 'Pharmacy', 'delivery.title': 'Delivery', 'delivery.eta': 'Expected', 'timeline.title': 'History',
    'pay.title': 'What you pay', 'pay.none': 'Amounts appear once the insurance pre-check is done.', 'pay.precheck': 'Pre-check', 'pay.settlement': 'Settled after dispensing',
    'pay.total': 'Total', 'pay.insurer': 'Insurance pays', 'pay.commercial': 'Commercial insurance pays', 'pay.patient': 'You pay',
    'pay.selfPay': 'The insurer could not answer in time; priced as self-pay with your consent.', 'pay.reversed': 'The settlement was reversed; you will be refunded.',
    'choice.title': 'Delivery or pickup', 'choice.delivery': 'Deliver to my home', 'choice.pickup': 'Collect at the pharmacy', 'choice.address': 'Delivery address', 'choice.save': 'Save',
    'choice.current.delivery': 'Now: delivery to {address}', 'choice.current.pickup': 'Now: collect at the pharmacy',
    'choice.locked': 'A pharmacy is already being arranged, so delivery or pickup and the address can no longer be changed here. Please contact the pharmacy.',
    'choice.saved': 'Saved.', 'choice.saving': 'Saving…', 'choice.addressNeeded': 'Please give the full delivery address.',
    'receipt.title': 'Confirm receipt', 'receipt.hint': 'Confirm here once you have the drugs.', 'receipt.confirm': 'I have received the drugs',
    'receipt.done': 'Receipt confirmed ({at}).', 'receipt.notYet': 'You can confirm once the drugs are delivered or collected.',
    'followup.title': 'Follow-up questions', 'sideEffect.title': 'Report a side effect',
  },
};

const STORAGE = 'rxflow.patient.lang';
let lang = initialLang();

function initialLang() {
  try { const saved = localStorage.getItem(STORAGE); if (saved === 'zh' || saved === 'en') return saved; } catch { /* storage off */ }
  return 'zh'; // Chinese first, whatever the phone's language
}

export const currentLang = () => lang;
export const locale = () => (lang === 'zh' ? 'zh-CN' : 'en-GB');

export function setLang(next) {
  lang = next === 'en' ? 'en' : 'zh';
  try { localStorage.setItem(STORAGE, lang); } catch { /* storage off */ }
  document.documentElement.lang = locale();
}

/** The label for key in the current language, with {name} placeholders filled in (as text, never markup). */
export function t(key, vars = {}) {
  const s = WORDS[lang][key] ?? WORDS.zh[key] ?? key;
  return s.replace(/\{(\w+)\}/g, (_, k) => String(vars[k] ?? ''));
}

/** Text the engine sent in both languages. */
export const pick = (words) => (words ? (lang === 'en' ? words.en : words.zh) ?? '' : '');

export function applyStatic(root = document) {
  for (const el of root.querySelectorAll('[data-i18n]')) el.textContent = t(el.dataset.i18n);
  document.title = `${t('app.title')} · rxflow`;
}
