// The pharmacist's review (审方) as pure rules: the documented reason codes, which findings block an
// approval, whether a pharmacist's licence lets them decide, what a decision must carry, the queue's
// order, and when a push under an existing number is an amendment. No I/O; the API and activities apply them.

// ---- reason codes ------------------------------------------------------------------------------------
// Categories of 《医院处方点评管理规范（试行）》 (卫医管发〔2010〕28号, 第十七–十九条): 不规范处方 (irregular),
// 用药不适宜处方 (inappropriate), 超常处方 (excessive). Codes an online review adds (allergy, contraindication,
// renal, banned online, missing information) sit in the category they belong to; `other` needs the comment.
export type ReasonCategory = 'irregular' | 'inappropriate' | 'excessive' | 'other';
export interface ReasonCode { code: string; category: ReasonCategory; zh: string; en: string }

export const REASON_CATEGORIES: Record<ReasonCategory, { zh: string; en: string }> = {
  irregular: { zh: '不规范处方', en: 'Irregular prescription' },
  inappropriate: { zh: '用药不适宜处方', en: 'Inappropriate medication' },
  excessive: { zh: '超常处方', en: 'Excessive prescription' },
  other: { zh: '其他', en: 'Other' },
};

export const REASON_CODES: readonly ReasonCode[] = [
  // 不规范处方 (第十七条)
  { code: 'MISSING_INFO', category: 'irregular', zh: '处方前记、正文、后记内容缺项或书写不规范', en: 'Required information missing or not written to standard' },
  { code: 'PRESCRIBER_SIGNATURE', category: 'irregular', zh: '医师签名、签章不规范或与留样不一致', en: 'Prescriber signature irregular or not matching the registered one' },
  { code: 'INFANT_AGE_MISSING', category: 'irregular', zh: '新生儿、婴幼儿处方未写明日、月龄', en: 'Age in days/months missing for a newborn or infant' },
  { code: 'SEPARATE_PRESCRIPTIONS', category: 'irregular', zh: '西药、中成药与中药饮片未分别开具处方', en: 'Western drugs, Chinese patent medicines and herbal pieces not on separate prescriptions' },
  { code: 'NON_STANDARD_NAME', category: 'irregular', zh: '未使用药品规范名称开具处方', en: 'Drug not prescribed by its standard name' },
  { code: 'DOSE_UNCLEAR', category: 'irregular', zh: '药品剂量、规格、数量、单位等书写不规范或不清楚', en: 'Dose, strength, quantity or unit unclear or not to standard' },
  { code: 'VAGUE_USAGE', category: 'irregular', zh: '用法、用量使用“遵医嘱”“自用”等含糊不清字句', en: 'Directions vague ("as directed", "for own use")' },
  { code: 'UNSIGNED_CHANGE', category: 'irregular', zh: '处方修改或超剂量使用未注明原因并再次签名', en: 'Change or over-dose not explained and countersigned' },
  { code: 'NO_DIAGNOSIS', category: 'irregular', zh: '未写临床诊断或临床诊断书写不全', en: 'Clinical diagnosis missing or incomplete' },
  { code: 'TOO_MANY_DRUGS', category: 'irregular', zh: '单张门急诊处方超过五种药品', en: 'More than five drugs on one outpatient prescription' },
  { code: 'EXCESS_QUANTITY', category: 'irregular', zh: '超过规定用量（门诊7日、急诊3日）且未注明理由', en: 'Quantity beyond the allowed days of supply without a stated reason' },
  { code: 'SPECIAL_DRUG_RULES', category: 'irregular', zh: '特殊管理药品（麻醉、精神、医疗用毒性、放射性）未执行国家规定', en: 'Specially controlled drug (narcotic, psychotropic, toxic, radioactive) not prescribed per regulations' },
  { code: 'ANTIBIOTIC_RULES', category: 'irregular', zh: '未按抗菌药物临床应用管理规定开具抗菌药物', en: 'Antibiotic not prescribed per the antimicrobial stewardship rules' },
  { code: 'TCM_ORDER', category: 'irregular', zh: '中药饮片未按君臣佐使排列或未标注调剂、煎煮要求', en: 'Herbal pieces not ordered or without preparation/decoction notes' },
  { code: 'BANNED_ONLINE', category: 'irregular', zh: '药品属于网络销售禁止清单，不得在线开具或销售', en: 'Drug on the list banned from online sale' },
  // 用药不适宜处方 (第十八条)
  { code: 'INDICATION', category: 'inappropriate', zh: '适应证不适宜', en: 'Indication not appropriate' },
  { code: 'DRUG_CHOICE', category: 'inappropriate', zh: '遴选的药品不适宜', en: 'Choice of drug not appropriate' },
  { code: 'FORM_ROUTE', category: 'inappropriate', zh: '药品剂型或给药途径不适宜', en: 'Dosage form or route not appropriate' },
  { code: 'NOT_ESSENTIAL_DRUG', category: 'inappropriate', zh: '无正当理由不首选国家基本药物', en: 'National essential medicine not preferred without reason' },
  { code: 'DOSE', category: 'inappropriate', zh: '用法、用量不适宜', en: 'Dose or frequency not appropriate' },
  { code: 'COMBINATION', category: 'inappropriate', zh: '联合用药不适宜', en: 'Combination not appropriate' },
  { code: 'DUPLICATE_THERAPY', category: 'inappropriate', zh: '重复给药', en: 'Duplicate therapy' },
  { code: 'INTERACTION', category: 'inappropriate', zh: '有配伍禁忌或不良相互作用', en: 'Incompatibility or adverse drug interaction' },
  { code: 'ALLERGY', category: 'inappropriate', zh: '患者对处方药品或同类药品有过敏史', en: 'Patient allergic to the drug or its class' },
  { code: 'CONTRAINDICATION', category: 'inappropriate', zh: '存在禁忌证（年龄、妊娠、哺乳等）', en: 'Contraindicated (age, pregnancy, lactation, ...)' },
  { code: 'RENAL', category: 'inappropriate', zh: '肾功能不全未调整剂量或禁用', en: 'Not adjusted or contraindicated for renal impairment' },
  { code: 'INAPPROPRIATE_OTHER', category: 'inappropriate', zh: '其他用药不适宜情况', en: 'Other inappropriate use' },
  // 超常处方 (第十九条)
  { code: 'NO_INDICATION', category: 'excessive', zh: '无适应证用药', en: 'Drug used without an indication' },
  { code: 'HIGH_COST', category: 'excessive', zh: '无正当理由开具高价药', en: 'High-cost drug without justification' },
  { code: 'OFF_LABEL', category: 'excessive', zh: '无正当理由超说明书用药', en: 'Off-label use without justification' },
  { code: 'SAME_PHARMACOLOGY', category: 'excessive', zh: '无正当理由同时开具2种以上药理作用相同的药物', en: 'Two or more drugs with the same pharmacological action without justification' },
  // 其他
  { code: 'OTHER', category: 'other', zh: '其他（见说明）', en: 'Other (see comment)' },
];

const BY_CODE = new Map(REASON_CODES.map((r) => [r.code, r]));
export const isReasonCode = (code: string) => BY_CODE.has(code);
export const reasonCode = (code: string) => BY_CODE.get(code);

// ---- findings that block ------------------------------------------------------------------------------
/** The top severity is being renamed from 'serious' to 'block'; stored findings may carry either. */
export function isBlockingFinding(f: { severity?: string | null }): boolean {
  return f.severity === 'block' || f.severity === 'serious';
}

// ---- licence -----------------------------------------------------------------------------------------
export interface PharmacistLicence { licenseNo: string | null; licenseValidFrom: string | Date | null; licenseValidTo: string | Date | null }
export type LicenceCheck = { ok: true } | { ok: false; reason: 'missing' | 'not_yet_valid' | 'expired'; message: string };

const day = (d: string | Date) => (typeof d === 'string' ? d.slice(0, 10) : d.toISOString().slice(0, 10));

/** A licence counts on the calendar days it is valid, both ends included (dates in China time, as issued). */
export function checkLicence(p: PharmacistLicence, now: Date): LicenceCheck {
  if (!p.licenseNo?.trim() || !p.licenseValidFrom || !p.licenseValidTo) {
    return { ok: false, reason: 'missing', message: 'no pharmacist licence (number and validity) is on record' };
  }
  const today = chinaDate(now);
  if (today < day(p.licenseValidFrom)) return { ok: false, reason: 'not_yet_valid', message: `licence ${p.licenseNo} is valid from ${day(p.licenseValidFrom)}` };
  if (today > day(p.licenseValidTo)) return { ok: false, reason: 'expired', message: `licence ${p.licenseNo} expired on ${day(p.licenseValidTo)}` };
  return { ok: true };
}

/** YYYY-MM-DD in China Standard Time (UTC+8, no daylight saving). */
export const chinaDate = (at: Date) => new Date(at.getTime() + 8 * 3600_000).toISOString().slice(0, 10);

// ---- what a decision must carry ------------------------------------------------------------------------
export interface DecisionInput { decision: 'approve' | 'reject'; reasons: string[]; comment?: string; overrideReason?: string }
export interface DecisionProblem { code: 'UNKNOWN_REASON_CODE' | 'REASON_REQUIRED' | 'COMMENT_REQUIRED' | 'OVERRIDE_REASON_REQUIRED'; path: string; message: string }

/**
 * Rejection: one or more documented reason codes and a free-text comment for the hospital.
 * Approval over any blocking finding: an explicit override reason (why the pharmacist accepts the risk).
 */
export function checkDecision(d: DecisionInput, findings: { severity?: string | null; code?: string; rule?: string }[]): DecisionProblem[] {
  const problems: DecisionProblem[] = [];
  d.reasons.forEach((r, i) => {
    if (!isReasonCode(r)) problems.push({ code: 'UNKNOWN_REASON_CODE', path: `$.reasons[${i}]`, message: `${r} is not a reason code (GET /v1/review/reason-codes lists them)` });
  });
  if (d.decision === 'reject') {
    if (d.reasons.length === 0) problems.push({ code: 'REASON_REQUIRED', path: '$.reasons', message: 'a rejection needs at least one reason code' });
    if (!d.comment?.trim()) problems.push({ code: 'COMMENT_REQUIRED', path: '$.comment', message: 'a rejection needs a comment the hospital can act on' });
  } else {
    const blocking = findings.filter(isBlockingFinding);
    if (blocking.length && !d.overrideReason?.trim()) {
      problems.push({
        code: 'OVERRIDE_REASON_REQUIRED', path: '$.overrideReason',
        message: `${blocking.length} blocking finding(s) (${[...new Set(blocking.map((f) => f.rule ?? f.code))].join(', ')}): approving needs an overrideReason`,
      });
    }
  }
  return problems;
}

// ---- queue order ---------------------------------------------------------------------------------------
export interface QueueEntry { escalations: number; flags: { severity?: string | null }[]; createdAt: Date }
/** Most escalated first, then those with a blocking finding, then the oldest. (The SQL orders the same way.) */
export function byUrgency(a: QueueEntry, b: QueueEntry): number {
  return (b.escalations - a.escalations)
    || (Number(b.flags.some(isBlockingFinding)) - Number(a.flags.some(isBlockingFinding)))
    || (a.createdAt.getTime() - b.createdAt.getTime());
}

// ---- amendments ----------------------------------------------------------------------------------------
export interface Amends { version: number; prescriptionId?: string }
export interface StoredVersion { id: string; version: number; status: string; contentHash: string }
export type PushVerdict =
  | { kind: 'new' }
  | { kind: 'duplicate'; of: StoredVersion }
  | { kind: 'amendment'; of: StoredVersion; version: number }
  | { kind: 'refused'; status: 409 | 422; code: 'RX_CONFLICT' | 'AMENDMENT_TARGET_NOT_FOUND' | 'AMENDMENT_NOT_REJECTED' | 'AMENDMENT_NOT_LATEST'; message: string };

/**
 * What a push under a prescription number means, given the versions stored under it: the same content is
 * a duplicate; different content is an amendment only when it names the latest version and that version
 * was rejected by a pharmacist; anything else is a conflict.
 */
export function classifyPush(rxNo: string, hash: string, amends: Amends | undefined, versions: StoredVersion[]): PushVerdict {
  const same = versions.find((v) => v.contentHash === hash);
  if (same) return { kind: 'duplicate', of: same };
  const latest = [...versions].sort((a, b) => b.version - a.version)[0];
  if (!amends) {
    return latest
      ? { kind: 'refused', status: 409, code: 'RX_CONFLICT', message: `prescription ${rxNo} already exists with different content (to amend a rejected one, send amends: { version })` }
      : { kind: 'new' };
  }
  const target = versions.find((v) => v.version === amends.version && (!amends.prescriptionId || v.id === amends.prescriptionId));
  if (!target) return { kind: 'refused', status: 422, code: 'AMENDMENT_TARGET_NOT_FOUND', message: `prescription ${rxNo} has no version ${amends.version}${amends.prescriptionId ? ` with id ${amends.prescriptionId}` : ''}` };
  if (target.id !== latest.id) return { kind: 'refused', status: 409, code: 'AMENDMENT_NOT_LATEST', message: `version ${target.version} of ${rxNo} was already amended by version ${latest.version}` };
  if (target.status !== 'rejected') return { kind: 'refused', status: 409, code: 'AMENDMENT_NOT_REJECTED', message: `version ${target.version} of ${rxNo} is ${target.status}; only a prescription rejected by a pharmacist can be amended` };
  return { kind: 'amendment', of: target, version: target.version + 1 };
}
