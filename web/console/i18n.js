// Labels of the pharmacist console in Chinese and English. Static labels carry data-i18n="key";
// everything rendered from data asks t(key, vars). The choice is kept in localStorage.
const STRINGS = {
  zh: {
    'app.title': '处方审核工作台', 'app.logout': '退出登录', 'app.loading': '正在加载…', 'app.otherLang': 'English',
    'app.sessionEnded': '登录已失效，请重新登录。',
    'login.title': '药师登录', 'login.name': '药师编号或用户名', 'login.password': '密码', 'login.submit': '登录',
    'login.missing': '请输入药师编号（或用户名）和密码。', 'login.busy': '正在登录…',
    'queue.title': '待审处方', 'queue.refresh': '刷新', 'queue.empty': '队列为空。', 'queue.loading': '正在加载队列…',
    'queue.failed': '无法加载队列', 'queue.waiting': '已等待 {d}', 'queue.escalated': '已升级 {n} 次',
    'queue.claimedByMe': '我已认领', 'queue.claimedBy': '{who} 已认领', 'queue.updated': '更新于 {t}',
    'cold.title': '冷链异常', 'cold.empty': '没有待决定的冷链异常。', 'cold.failed': '无法加载冷链异常',
    'cold.rule.frozen': '冻结', 'cold.rule.hard_high': '温度过高', 'cold.rule.duration': '超温时间过长',
    'cold.range': '{min}–{max} ℃，{n} 条读数', 'cold.reason': '决定理由', 'cold.continue': '可继续配送', 'cold.return': '退回药房',
    'cold.reasonMissing': '请填写决定理由。', 'cold.decided': '已提交决定。',
    'detail.empty': '从左侧队列选择一张处方。', 'detail.loading': '正在加载处方…', 'detail.failed': '无法加载处方',
    'detail.meta': '{hospital} · {department} · 开具 {issued} · 有效至 {expires} · 医生 {doctor}',
    'sev.block': '阻断', 'sev.warning': '警告', 'sev.info': '提示',
    'findings.title': '自动审方结果', 'findings.none': '自动审方未发现问题。', 'findings.lines': '第 {lines} 行', 'findings.evidence': '依据',
    'patient.title': '患者信息', 'patient.name': '姓名', 'patient.sex': '性别', 'patient.age': '年龄', 'patient.birthDate': '出生日期',
    'patient.allergies': '过敏史', 'patient.pregnant': '妊娠/哺乳', 'patient.guardian': '监护人', 'patient.renal': '肾功能',
    'patient.none': '无', 'patient.yes': '是', 'patient.no': '否', 'patient.years': '{n} 岁', 'sex.M': '男', 'sex.F': '女',
    'diagnoses.title': '诊断', 'diagnoses.none': '无诊断信息。', 'visit.line': '复诊 · 既往诊断号 {ref}',
    'lines.title': '处方药品', 'lines.no': '#', 'lines.drug': '药品', 'lines.qty': '数量', 'lines.dosage': '用量',
    'lines.frequency': '频次', 'lines.route': '途径', 'lines.days': '天数',
    'history.title': '近期处方（本平台）', 'history.rxNo': '处方号', 'history.status': '状态', 'history.date': '开具时间',
    'history.none': '无近期处方。',
    'claim.claim': '认领', 'claim.release': '释放', 'claim.none': '未认领', 'claim.mine': '已由您认领，至 {t}',
    'claim.other': '已被 {who} 认领，至 {t}', 'claim.unavailable': '认领功能不可用（{msg}）；可直接审核。',
    'claim.claimed': '已认领。', 'claim.released': '已释放。',
    'decision.title': '审核决定', 'decision.approve': '通过', 'decision.reject': '驳回', 'decision.comment': '备注',
    'decision.override': '越过阻断性问题的理由（通过时必填）', 'decision.submit': '提交审核',
    'decision.needClaim': '请先认领这张处方。', 'decision.claimedByOther': '这张处方已被其他药师认领。',
    'decision.needReason': '驳回需要至少一个原因。', 'decision.busy': '正在提交…',
    'decision.approved': '已通过处方 {rxNo}。', 'decision.rejected': '已驳回处方 {rxNo}。',
    'reasons.title': '原因代码', 'reasons.freeText': '原因（每行一条）', 'reasons.loading': '正在加载原因代码…',
    'reasons.failed': '无法加载原因代码（{msg}）；请在下方填写原因。',
    'status.received': '已接收', 'status.in_review': '待审核', 'status.approved': '已通过', 'status.rejected': '已驳回',
    'status.expired': '已过期', 'status.cancelled': '已取消', 'status.matching': '匹配药店', 'status.dispensing': '配药中',
    'status.in_delivery': '配送中', 'status.delivered': '已送达', 'status.completed': '已完成', 'status.unfulfillable': '无法履约',
    'status.partially_dispensed': '部分配药',
    'error.network': '无法连接服务器：{msg}',
  },
  en: {
    'app.title': 'Prescription review console', 'app.logout': 'Log out', 'app.loading': 'Loading…', 'app.otherLang': '中文',
    'app.sessionEnded': 'Your session has ended; please log in again.',
    'login.title': 'Pharmacist login', 'login.name': 'Pharmacist code or username', 'login.password': 'Password', 'login.submit': 'Log in',
    'login.missing': 'Enter your pharmacist code (or username) and password.', 'login.busy': 'Logging in…',
    'queue.title': 'Review queue', 'queue.refresh': 'Refresh', 'queue.empty': 'The queue is empty.', 'queue.loading': 'Loading the queue…',
    'queue.failed': 'Could not load the queue', 'queue.waiting': 'waiting {d}', 'queue.escalated': 'escalated {n}×',
    'queue.claimedByMe': 'claimed by you', 'queue.claimedBy': 'claimed by {who}', 'queue.updated': 'updated {t}',
    'cold.title': 'Cold-chain excursions', 'cold.empty': 'No cold-chain excursion waits for a decision.', 'cold.failed': 'Could not load the excursions',
    'cold.rule.frozen': 'frozen', 'cold.rule.hard_high': 'too warm', 'cold.rule.duration': 'out of range too long',
    'cold.range': '{min}–{max} ℃, {n} readings', 'cold.reason': 'Reason', 'cold.continue': 'Usable: continue', 'cold.return': 'Return to the pharmacy',
    'cold.reasonMissing': 'Give a reason for the decision.', 'cold.decided': 'Decision sent.',
    'detail.empty': 'Choose a prescription from the queue.', 'detail.loading': 'Loading the prescription…', 'detail.failed': 'Could not load the prescription',
    'detail.meta': '{hospital} · {department} · issued {issued} · valid until {expires} · doctor {doctor}',
    'sev.block': 'Block', 'sev.warning': 'Warning', 'sev.info': 'Info',
    'findings.title': 'Automated review findings', 'findings.none': 'The automated checks found nothing.', 'findings.lines': 'line {lines}', 'findings.evidence': 'Evidence',
    'patient.title': 'Patient', 'patient.name': 'Name', 'patient.sex': 'Sex', 'patient.age': 'Age', 'patient.birthDate': 'Date of birth',
    'patient.allergies': 'Allergies', 'patient.pregnant': 'Pregnant / lactating', 'patient.guardian': 'Guardian', 'patient.renal': 'Renal function',
    'patient.none': 'none', 'patient.yes': 'yes', 'patient.no': 'no', 'patient.years': '{n} years', 'sex.M': 'male', 'sex.F': 'female',
    'diagnoses.title': 'Diagnoses', 'diagnoses.none': 'No diagnoses given.', 'visit.line': 'Follow-up visit · prior diagnosis {ref}',
    'lines.title': 'Prescribed drugs', 'lines.no': '#', 'lines.drug': 'Drug', 'lines.qty': 'Qty', 'lines.dosage': 'Dose',
    'lines.frequency': 'Frequency', 'lines.route': 'Route', 'lines.days': 'Days',
    'history.title': 'Recent prescriptions (through rxflow)', 'history.rxNo': 'Rx no.', 'history.status': 'Status', 'history.date': 'Issued',
    'history.none': 'No recent prescriptions.',
    'claim.claim': 'Claim', 'claim.release': 'Release', 'claim.none': 'Not claimed', 'claim.mine': 'Claimed by you until {t}',
    'claim.other': 'Claimed by {who} until {t}', 'claim.unavailable': 'Claiming is not available ({msg}); you may decide directly.',
    'claim.claimed': 'Claimed.', 'claim.released': 'Released.',
    'decision.title': 'Decision', 'decision.approve': 'Approve', 'decision.reject': 'Reject', 'decision.comment': 'Comment',
    'decision.override': 'Reason for overriding a blocking finding (required to approve)', 'decision.submit': 'Submit decision',
    'decision.needClaim': 'Claim this prescription first.', 'decision.claimedByOther': 'Another pharmacist has claimed this prescription.',
    'decision.needReason': 'A rejection needs at least one reason.', 'decision.busy': 'Submitting…',
    'decision.approved': 'Prescription {rxNo} approved.', 'decision.rejected': 'Prescription {rxNo} rejected.',
    'reasons.title': 'Reason codes', 'reasons.freeText': 'Reasons (one per line)', 'reasons.loading': 'Loading the reason codes…',
    'reasons.failed': 'Could not load the reason codes ({msg}); write the reasons below.',
    'status.received': 'received', 'status.in_review': 'in review', 'status.approved': 'approved', 'status.rejected': 'rejected',
    'status.expired': 'expired', 'status.cancelled': 'cancelled', 'status.matching': 'matching', 'status.dispensing': 'dispensing',
    'status.in_delivery': 'in delivery', 'status.delivered': 'delivered', 'status.completed': 'completed', 'status.unfulfillable': 'unfulfillable',
    'status.partially_dispensed': 'partially dispensed',
    'error.network': 'Cannot reach the server: {msg}',
  },
};

const STORAGE = 'rxflow.console.lang';
let lang = initialLang();

function initialLang() {
  try { const saved = localStorage.getItem(STORAGE); if (saved === 'zh' || saved === 'en') return saved; } catch { /* storage off */ }
  return (navigator.language || 'zh').toLowerCase().startsWith('zh') ? 'zh' : 'en';
}

export const currentLang = () => lang;
export const locale = () => (lang === 'zh' ? 'zh-CN' : 'en-GB');

export function setLang(next) {
  lang = next === 'en' ? 'en' : 'zh';
  try { localStorage.setItem(STORAGE, lang); } catch { /* storage off */ }
  applyStatic();
}

/** The label for key in the current language, with {name} placeholders filled in. */
export function t(key, vars = {}) {
  const s = STRINGS[lang][key] ?? STRINGS.zh[key] ?? key;
  return s.replace(/\{(\w+)\}/g, (_, k) => (vars[k] === undefined || vars[k] === null ? '' : String(vars[k])));
}

/** A key's label if there is one (status names and the like), else the raw value. */
export const tOr = (key, fallback) => (STRINGS[lang][key] ?? fallback);

export function applyStatic(root = document) {
  document.documentElement.lang = locale();
  document.title = `${t('app.title')} · rxflow`;
  for (const el of root.querySelectorAll('[data-i18n]')) el.textContent = t(el.dataset.i18n);
  const toggle = document.getElementById('lang-toggle');
  if (toggle) {
    toggle.textContent = t('app.otherLang');
    toggle.lang = lang === 'zh' ? 'en' : 'zh-CN';
  }
}
