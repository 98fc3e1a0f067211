// Automated pre-review (智能审方): flags a pharmacist sees before deciding. The pharmacist decides;
// these never approve or reject on their own.
import type { Drug } from './types';
import type { PrescriptionSubmission } from './prescription';
import { ageInYears } from './rules';

export type FlagSeverity = 'warning' | 'serious';
export interface ReviewFlag {
  code: 'INTERACTION' | 'DUPLICATE_THERAPY' | 'DOSE' | 'ALLERGY' | 'AGE' | 'PREGNANCY' | 'RESTRICTED';
  severity: FlagSeverity;
  lines: number[];
  message: string;
}

/** Known clinically significant interactions, by ATC prefix. */
export const INTERACTIONS: { a: string; b: string; severity: FlagSeverity; note: string }[] = [
  { a: 'B01AC', b: 'B01AA', severity: 'serious', note: 'antiplatelet with warfarin: bleeding risk' },
  { a: 'M01A', b: 'B01AA', severity: 'serious', note: 'NSAID with warfarin: bleeding risk' },
  { a: 'M01A', b: 'B01AC', severity: 'warning', note: 'NSAID with antiplatelet: GI bleeding risk' },
  { a: 'C09A', b: 'C09C', severity: 'serious', note: 'ACE inhibitor with ARB: hyperkalaemia, renal failure' },
  { a: 'C10AA', b: 'J01FA09', severity: 'serious', note: 'statin with clarithromycin: myopathy' },
  { a: 'B01AC04', b: 'A02BC01', severity: 'warning', note: 'clopidogrel with omeprazole: reduced antiplatelet effect' },
  { a: 'N06AB', b: 'N02AX02', severity: 'serious', note: 'SSRI with tramadol: serotonin syndrome' },
  { a: 'J01MA', b: 'A02AD', severity: 'warning', note: 'fluoroquinolone with antacid: absorption reduced' },
];

/** Allergy words a patient reports, mapped to the ATC prefixes they rule out. */
export const ALLERGY_CLASSES: Record<string, string[]> = {
  '青霉素': ['J01C'],
  '头孢': ['J01D'],
  '磺胺': ['J01E'],
  '阿司匹林': ['B01AC06', 'N02BA01'],
  '喹诺酮': ['J01M'],
};

const DAILY_DOSE_TOLERANCE = 1.0;

export function automatedReview(rx: PrescriptionSubmission, drugs: Map<string, Drug>, now: Date): ReviewFlag[] {
  const flags: ReviewFlag[] = [];
  const lines = rx.lines.map((l, i) => ({ line: l, i, drug: drugs.get(l.drugCode) })).filter((x) => x.drug) as
    { line: PrescriptionSubmission['lines'][number]; i: number; drug: Drug }[];

  for (let x = 0; x < lines.length; x++) {
    for (let y = x + 1; y < lines.length; y++) {
      const [p, q] = [lines[x], lines[y]];
      for (const rule of INTERACTIONS) {
        const hit = (p.drug.atcCode.startsWith(rule.a) && q.drug.atcCode.startsWith(rule.b)) ||
          (p.drug.atcCode.startsWith(rule.b) && q.drug.atcCode.startsWith(rule.a));
        if (hit) flags.push({ code: 'INTERACTION', severity: rule.severity, lines: [p.i, q.i], message: `${p.drug.genericNameZh} + ${q.drug.genericNameZh}: ${rule.note}` });
      }
      if (p.drug.atcCode.slice(0, 5) === q.drug.atcCode.slice(0, 5) && p.drug.atcCode !== 'V' && p.drug.atcCode.length >= 5) {
        flags.push({ code: 'DUPLICATE_THERAPY', severity: 'warning', lines: [p.i, q.i], message: `${p.drug.genericNameZh} and ${q.drug.genericNameZh} are in the same therapeutic class (${p.drug.atcCode.slice(0, 5)})` });
      }
    }
  }

  const age = ageInYears(rx.patient.birthDate, now);
  for (const { line, i, drug } of lines) {
    if (drug.maxDailyDoseMg && line.doseMg && line.doseMg * line.timesPerDay > drug.maxDailyDoseMg * DAILY_DOSE_TOLERANCE) {
      flags.push({ code: 'DOSE', severity: 'serious', lines: [i], message: `${drug.genericNameZh}: ${line.doseMg * line.timesPerDay} mg/day exceeds the maximum ${drug.maxDailyDoseMg} mg/day` });
    }
    for (const allergy of rx.patient.allergies) {
      const classes = ALLERGY_CLASSES[allergy] ?? [];
      if (drug.genericNameZh.includes(allergy) || classes.some((c) => drug.atcCode.startsWith(c))) {
        flags.push({ code: 'ALLERGY', severity: 'serious', lines: [i], message: `patient reports allergy to ${allergy}; ${drug.genericNameZh} (${drug.atcCode})` });
      }
    }
    if (drug.minAgeYears !== null && age < drug.minAgeYears) {
      flags.push({ code: 'AGE', severity: 'serious', lines: [i], message: `${drug.genericNameZh} is not for patients under ${drug.minAgeYears}; patient is ${age}` });
    }
    if (rx.patient.pregnant && drug.pregnancyCategory !== 'safe') {
      flags.push({ code: 'PREGNANCY', severity: drug.pregnancyCategory === 'contraindicated' ? 'serious' : 'warning', lines: [i], message: `${drug.genericNameZh} is ${drug.pregnancyCategory} in pregnancy` });
    }
    if (drug.rxClass === 'Rx' && drug.storage === 'cold') {
      flags.push({ code: 'RESTRICTED', severity: 'warning', lines: [i], message: `${drug.genericNameZh} needs cold-chain (2–8℃) handling` });
    }
  }
  return flags;
}
