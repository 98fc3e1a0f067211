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
    'sideEffect.hint': '用药后如有不适，请在上面的随访问题中填写；情况严重请立即就医。',
    'followup.kind.check_in': '用药情况回访', 'followup.kind.refill_reminder': '续药提醒', 'followup.kind.adherence': '用药情况回访', 'followup.kind.adverse_reaction': '不良反应回访',
    'followup.answered': '{kind}：已回答（{at}）', 'followup.unanswered': '{kind}：未回答',
    'followup.adherence': '是否按医嘱用药？', 'followup.adherence.as_prescribed': '按医嘱服用', 'followup.adherence.missed_doses': '漏服过', 'followup.adherence.stopped': '已停药',
    'followup.missed': '漏服次数', 'followup.stopReason': '停药原因',
    'followup.stop.side_effect': '不良反应', 'followup.stop.felt_better': '症状好转', 'followup.stop.not_working': '没有效果', 'followup.stop.cost': '费用', 'followup.stop.doctor_advice': '医生建议', 'followup.stop.other': '其他',
    'followup.hadEffect': '用药后有不适（不良反应）', 'followup.reaction': '不适症状（如皮疹、干咳）', 'followup.description': '经过描述', 'followup.onset': '开始日期',
    'followup.severity': '严重程度', 'followup.severity.mild': '轻度', 'followup.severity.moderate': '中度', 'followup.severity.severe': '重度',
    'followup.serious': '是否导致以下情况', 'followup.serious.none': '无', 'followup.serious.hospitalisation': '住院', 'followup.serious.life_threatening': '危及生命',
    'followup.serious.disability': '致残', 'followup.serious.other_important': '其他严重情况',
    'followup.continue': '是否需要继续用药？', 'followup.continue.yes': '需要，请医院为我续方', 'followup.continue.no': '不需要', 'followup.note': '补充说明',
    'followup.submit': '提交', 'followup.sending': '正在提交…', 'followup.thanks': '已提交，谢谢。',
    'followup.thanksEffect': '已提交。药师会查看您报告的不良反应。', 'followup.thanksRenewal': '已提交。已请医院为您续方，由医生决定是否开具。',
    'followup.fill': '请填写完整。',
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
    'sideEffect.hint': 'If you feel unwell after taking the drugs, tell us in the follow-up questions above; if it is serious, see a doctor at once.',
    'followup.kind.check_in': 'How the medicine is going', 'followup.kind.refill_reminder': 'Refill reminder', 'followup.kind.adherence': 'How the medicine is going', 'followup.kind.adverse_reaction': 'Side-effect check',
    'followup.answered': '{kind}: answered ({at})', 'followup.unanswered': '{kind}: not answered',
    'followup.adherence': 'Are you taking it as prescribed?', 'followup.adherence.as_prescribed': 'As prescribed', 'followup.adherence.missed_doses': 'I missed doses', 'followup.adherence.stopped': 'I stopped',
    'followup.missed': 'Doses missed', 'followup.stopReason': 'Why you stopped',
    'followup.stop.side_effect': 'Side effect', 'followup.stop.felt_better': 'Felt better', 'followup.stop.not_working': 'Not working', 'followup.stop.cost': 'Cost', 'followup.stop.doctor_advice': 'Doctor\'s advice', 'followup.stop.other': 'Other',
    'followup.hadEffect': 'I had a side effect', 'followup.reaction': 'What it was (e.g. rash, dry cough)', 'followup.description': 'What happened', 'followup.onset': 'Started on',
    'followup.severity': 'How bad', 'followup.severity.mild': 'Mild', 'followup.severity.moderate': 'Moderate', 'followup.severity.severe': 'Severe',
    'followup.serious': 'Did it lead to', 'followup.serious.none': 'None of these', 'followup.serious.hospitalisation': 'A hospital stay', 'followup.serious.life_threatening': 'A threat to life',
    'followup.serious.disability': 'Disability', 'followup.serious.other_important': 'Something else serious',
    'followup.continue': 'Do you need to continue the medicine?', 'followup.continue.yes': 'Yes, ask the hospital to renew it', 'followup.continue.no': 'No', 'followup.note': 'Anything to add',
    'followup.submit': 'Send', 'followup.sending': 'Sending…', 'followup.thanks': 'Sent, thank you.',
    'followup.thanksEffect': 'Sent. A pharmacist will look at the side effect you reported.', 'followup.thanksRenewal': 'Sent. The hospital is asked to renew it; the doctor decides.',
    'followup.fill': 'Please fill in every field.',
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
