// The automated pre-review against the real clinical knowledge files and the real demo catalogue:
// each rule with a finding and a non-finding case, and the integrity of the data files.
import drugsJson from '../../catalog/data/drugs.json';
import { knowledgeFromFiles, readClinicalFiles } from '../../catalog/clinical';
import { assembleKnowledge, parseKnowledgeFile, KnowledgeFileError, DATASET_NAMES } from '../../domain/clinical-knowledge';
import { automatedReview, ageYearsExact, drugMatches, cockcroftGault, readFindings, type ReviewFinding } from '../../domain/review-checks';
import { PrescriptionSubmissionSchema } from '../../domain/prescription';
import type { Drug } from '../../domain/types';
import { sampleRx } from './rx-sample';

const DRUGS = drugsJson as Drug[];
const catalogue = new Map(DRUGS.map((d) => [d.code, d]));
const knowledge = knowledgeFromFiles();
const now = new Date('2026-11-24T10:00:00+08:00');

/** A catalogue drug by its exact Chinese generic name (first SKU). */
function drug(name: string): Drug {
  const d = DRUGS.find((x) => x.genericNameZh === name);
  if (!d) throw new Error(`no catalogue drug ${name}`);
  return d;
}
type LineOver = { doseMg?: number; timesPerDay?: number; frequency?: string };
const line = (name: string, over: LineOver = {}) => ({
  drugCode: drug(name).code, quantity: 1, dosage: '1片', frequency: 'qd', timesPerDay: 1, route: '口服', days: 7, allowSubstitution: false, ...over,
});
type Patient = Partial<ReturnType<typeof sampleRx>['patient']>;
function review(lines: ReturnType<typeof line>[], patient: Patient = {}, k = knowledge): ReviewFinding[] {
  const rx = sampleRx({ lines, patient: { ...sampleRx().patient, birthDate: '1970-05-01', ...patient } });
  return automatedReview(rx, catalogue, now, k);
}
const rules = (fs: ReviewFinding[]) => fs.map((f) => `${f.rule}:${f.severity}`);
const only = (fs: ReviewFinding[], rule: string) => fs.filter((f) => f.rule === rule);

describe('drug-drug interactions', () => {
  it('blocks simvastatin with clarithromycin, citing the entry, its version and both lines', () => {
    const [f] = only(review([line('辛伐他汀片'), line('克拉霉素片')]), 'INTERACTION');
    expect(f).toMatchObject({ severity: 'block', lines: [0, 1], drugCodes: [drug('辛伐他汀片').code, drug('克拉霉素片').code] });
    expect(f.evidence).toMatchObject({ dataset: 'interactions', version: 1, a: '辛伐他汀 simvastatin', b: '克拉霉素 clarithromycin' });
    expect(f.message).toContain('横纹肌溶解');
    expect(f.messageEn).toContain('rhabdomyolysis');
  });

  it('finds a pair in either order and through a combination product\'s ingredients', () => {
    // Sacubitril/valsartan contains valsartan: with an ACE inhibitor it is contraindicated.
    const f = only(review([line('沙库巴曲缬沙坦钠片'), line('马来酸依那普利片')]), 'INTERACTION');
    expect(f.map((x) => x.evidence.entryId)).toContain(knowledge.interactions.find((e) => e.a.label.startsWith('ACE') && e.b.label.startsWith('沙库巴曲'))!.id);
    expect(f.every((x) => x.severity === 'block')).toBe(true);
  });

  it('warns on clopidogrel with omeprazole but not with pantoprazole', () => {
    expect(rules(only(review([line('硫酸氢氯吡格雷片'), line('奥美拉唑肠溶胶囊')]), 'INTERACTION'))).toEqual(['INTERACTION:warning']);
    expect(only(review([line('硫酸氢氯吡格雷片'), line('泮托拉唑钠肠溶片')]), 'INTERACTION')).toEqual([]);
  });

  it('raises nothing for amlodipine with metformin', () => {
    expect(review([line('苯磺酸氨氯地平片'), line('盐酸二甲双胍片')])).toEqual([]);
  });
});

describe('duplicate therapy', () => {
  it('blocks paracetamol twice when a cold remedy contains it', () => {
    const [f] = only(review([line('感冒灵颗粒'), line('对乙酰氨基酚片')]), 'DUPLICATE_THERAPY');
    expect(f).toMatchObject({ severity: 'block', lines: [0, 1], evidence: { dataset: 'duplicate-therapy', entryId: 'paracetamol', basis: 'ingredient', shared: 'N02BE01' } });
  });

  it('warns on two drugs of one ATC level-4 class, once per pair', () => {
    const f = only(review([line('苯磺酸氨氯地平片'), line('硝苯地平控释片')]), 'DUPLICATE_THERAPY');
    expect(f).toHaveLength(1);
    expect(f[0]).toMatchObject({ severity: 'warning', evidence: { basis: 'atc4', shared: 'C08CA', entryId: 'atc4-default' } });
  });

  it('sees glibenclamide in 消渴丸 as a second sulfonylurea', () => {
    expect(only(review([line('消渴丸'), line('格列美脲片')]), 'DUPLICATE_THERAPY')[0]).toMatchObject({ severity: 'block', evidence: { entryId: 'sulfonylureas' } });
  });

  it('reports probiotics together only as information, and different classes not at all', () => {
    expect(rules(only(review([line('双歧杆菌三联活菌胶囊'), line('地衣芽孢杆菌活菌胶囊')]), 'DUPLICATE_THERAPY'))).toEqual(['DUPLICATE_THERAPY:info']);
    expect(only(review([line('苯磺酸氨氯地平片'), line('氯沙坦钾片')]), 'DUPLICATE_THERAPY')).toEqual([]);
  });
});

describe('dose', () => {
  it('blocks a daily dose above the adult maximum and shows the values compared', () => {
    const [f] = review([line('阿托伐他汀钙片', { doseMg: 50, timesPerDay: 2 })]);
    expect(f).toMatchObject({ rule: 'DOSE_HIGH', severity: 'block', evidence: { dataset: 'doses', entryId: 'atorvastatin', dailyMg: 100, range: [10, 80], basis: 'adult' } });
  });

  it('notes a dose below the usual minimum and accepts one within the range', () => {
    expect(rules(review([line('阿托伐他汀钙片', { doseMg: 5 })]))).toEqual(['DOSE_LOW:info']);
    expect(review([line('阿托伐他汀钙片', { doseMg: 20 })])).toEqual([]);
  });

  it('checks children by mg/kg when the weight is known', () => {
    const child = { birthDate: '2021-03-01', weightKg: 18 };
    const [high] = review([line('阿莫西林胶囊', { doseMg: 1000, timesPerDay: 3 })], child);
    expect(high).toMatchObject({ rule: 'DOSE_HIGH', severity: 'block', evidence: { weightKg: 18, mgPerKgPerDay: 166.667, range: [20, 90] } });
    expect(review([line('阿莫西林胶囊', { doseMg: 500, timesPerDay: 3 })], child)).toEqual([]);
  });

  it('uses age bands in mg/day for children', () => {
    const fiveYears = { birthDate: '2021-06-01' };
    expect(rules(review([line('孟鲁司特钠咀嚼片', { doseMg: 8 })], fiveYears))).toEqual(['DOSE_HIGH:block']);
    expect(review([line('孟鲁司特钠咀嚼片', { doseMg: 4 })], fiveYears)).toEqual([]);
  });

  it('blocks a once-weekly drug prescribed daily, and checks the weekly total', () => {
    const [f] = review([line('甲氨蝶呤片', { doseMg: 7.5 })]);
    expect(f).toMatchObject({ rule: 'DOSE_FREQUENCY', severity: 'block', evidence: { entryId: 'methotrexate-weekly', frequency: 'qd', expected: 'once weekly' } });
    expect(review([line('甲氨蝶呤片', { doseMg: 7.5, frequency: 'qw' })])).toEqual([]);
    expect(rules(review([line('甲氨蝶呤片', { doseMg: 30, frequency: 'qw' })]))).toEqual(['DOSE_HIGH:block']);
  });

  it('warns above a per-kg adult limit (hydroxychloroquine ≤5 mg/kg)', () => {
    expect(rules(review([line('硫酸羟氯喹片', { doseMg: 200, timesPerDay: 2 })], { weightKg: 50 }))).toEqual(['DOSE_HIGH:warning']);
    expect(review([line('硫酸羟氯喹片', { doseMg: 200, timesPerDay: 2 })], { weightKg: 80 })).toEqual([]);
  });
});

describe('allergy', () => {
  it('blocks a drug of the allergy class', () => {
    const [f] = review([line('阿莫西林胶囊')], { allergies: ['青霉素'] });
    expect(f).toMatchObject({ rule: 'ALLERGY', severity: 'block', lines: [0], evidence: { dataset: 'allergy-classes', version: 1, entryId: 'penicillins', basis: 'class', allergy: '青霉素' } });
  });

  it('grades cross-reactivity: cefaclor (shared side chain) warning, cefixime information', () => {
    expect(review([line('头孢克洛胶囊')], { allergies: ['青霉素过敏'] })[0]).toMatchObject({ severity: 'warning', evidence: { basis: 'cross-reactivity' } });
    expect(rules(review([line('头孢克肟胶囊')], { allergies: ['青霉素'] }))).toEqual(['ALLERGY:info']);
  });

  it('finds an ingredient inside a combination product', () => {
    const [f] = review([line('感冒灵颗粒')], { allergies: ['对乙酰氨基酚'] });
    expect(f).toMatchObject({ rule: 'ALLERGY', severity: 'block', evidence: { dataset: 'ingredients', entryId: 'ganmaoling', basis: 'ingredient' } });
  });

  it('blocks celecoxib and warns on thiazides for a sulfonamide allergy; nothing without the allergy', () => {
    expect(rules(review([line('塞来昔布胶囊'), line('氢氯噻嗪片')], { allergies: ['磺胺类'] }).filter((f) => f.rule === 'ALLERGY'))).toEqual(['ALLERGY:block', 'ALLERGY:warning']);
    expect(review([line('阿莫西林胶囊')], { allergies: [] })).toEqual([]);
    expect(review([line('苯磺酸氨氯地平片')], { allergies: ['青霉素'] })).toEqual([]);
  });

  it('blocks NSAIDs after an aspirin allergy', () => {
    expect(rules(review([line('布洛芬缓释胶囊')], { allergies: ['阿司匹林'] }))).toEqual(['ALLERGY:block']);
  });
});

describe('age, pregnancy and lactation', () => {
  it('blocks a fluoroquinolone under 18 and not at 18', () => {
    expect(review([line('左氧氟沙星片')], { birthDate: '2012-01-01' })[0]).toMatchObject({ rule: 'AGE', severity: 'block', evidence: { entryId: 'age-fluoroquinolones', belowYears: 18 } });
    expect(review([line('左氧氟沙星片')], { birthDate: '2008-11-24' })).toEqual([]);
  });

  it('warns on first-generation antihistamines from 65 (Beers)', () => {
    expect(review([line('马来酸氯苯那敏片')], { birthDate: '1950-01-01' })[0]).toMatchObject({ rule: 'AGE', severity: 'warning', evidence: { fromYears: 65 } });
    expect(review([line('马来酸氯苯那敏片')], { birthDate: '1970-01-01' })).toEqual([]);
  });

  it('falls back to the catalogue\'s minimum age for formulations the knowledge does not cover', () => {
    const [f] = review([line('布洛芬片')], { birthDate: '2018-01-01' });
    expect(f).toMatchObject({ rule: 'AGE', severity: 'warning', evidence: { dataset: 'catalogue', minAgeYears: 12 } });
  });

  it('blocks an ARB in pregnancy and says nothing when not pregnant', () => {
    expect(review([line('缬沙坦胶囊')], { gender: 'F', pregnant: true })[0]).toMatchObject({ rule: 'PREGNANCY', severity: 'block', evidence: { entryId: 'pregnancy-raas' } });
    expect(review([line('缬沙坦胶囊')], { gender: 'F', pregnant: false })).toEqual([]);
  });

  it('blocks a fluoroquinolone during breastfeeding and not otherwise', () => {
    expect(review([line('左氧氟沙星片')], { gender: 'F', lactating: true })[0]).toMatchObject({ rule: 'LACTATION', severity: 'block' });
    expect(review([line('左氧氟沙星片')], { gender: 'F' })).toEqual([]);
  });
});

describe('renal function', () => {
  const met = (doseMg: number, times: number) => line('盐酸二甲双胍片', { doseMg, timesPerDay: times });

  it('blocks metformin below eGFR 30', () => {
    expect(review([met(500, 2)], { renal: { egfr: 25 } })[0]).toMatchObject({ rule: 'RENAL', severity: 'block', evidence: { entryId: 'metformin', metric: 'egfr', value: 25, below: 30 } });
  });

  it('warns above the reduced maximum and notes a dose already adjusted', () => {
    expect(rules(review([met(500, 3)], { renal: { egfr: 40 } }))).toEqual(['RENAL:warning']);
    expect(review([met(500, 2)], { renal: { egfr: 40 } })[0]).toMatchObject({ severity: 'info', evidence: { maxMgPerDay: 1000, dailyMg: 1000, bandSeverity: 'warning' } });
  });

  it('says nothing with normal or unknown renal function', () => {
    expect(review([met(500, 3)], { renal: { egfr: 90 } })).toEqual([]);
    expect(review([met(500, 3)])).toEqual([]);
  });

  it('derives creatinine clearance (Cockcroft-Gault) and uses the other measure when only one is known', () => {
    expect(cockcroftGault(70, 60, true, 200)).toBeCloseTo(21.9, 1); // (140-70)·60·0.85 / (72·200/88.4)
    const [f] = review([line('加巴喷丁胶囊', { doseMg: 300, timesPerDay: 3 })], { gender: 'F', weightKg: 60, renal: { creatinineUmolL: 200 }, birthDate: '1956-01-01' });
    expect(f).toMatchObject({ rule: 'RENAL', severity: 'warning', evidence: { metric: 'crcl', measuredAs: 'cockcroft-gault', below: 30, maxMgPerDay: 700 } });
    const [g] = review([met(500, 2)], { renal: { crcl: 25 } });
    expect(g.evidence).toMatchObject({ metric: 'egfr', measuredAs: 'crcl', approximated: true });
  });
});

describe('other rules and stored flags', () => {
  it('notes cold-chain drugs', () => {
    expect(rules(review([line('门冬胰岛素注射液')]))).toEqual(['RESTRICTED:info']);
  });

  it('says which checks did not run when knowledge is missing', () => {
    const [f] = review([line('辛伐他汀片'), line('克拉霉素片')], {}, assembleKnowledge([]));
    expect(f).toMatchObject({ rule: 'KNOWLEDGE_MISSING', severity: 'warning' });
    expect((f.evidence.missing as string[]).sort()).toEqual([...DATASET_NAMES].sort());
  });

  it('reads the first stored flags: serious as block, DOSE as DOSE_HIGH', () => {
    const [f] = readFindings([{ code: 'DOSE', severity: 'serious', lines: [0], message: 'x' }]);
    expect(f).toMatchObject({ rule: 'DOSE_HIGH', code: 'DOSE_HIGH', severity: 'block', lines: [0], messageEn: 'x', evidence: { dataset: 'legacy' } });
    expect(readFindings(null)).toEqual([]);
  });

  it('measures age in whole months, exact at birthdays', () => {
    expect(ageYearsExact('2008-11-24', new Date('2026-11-24T00:00:00Z'))).toBe(18);
    expect(ageYearsExact('2008-11-25', new Date('2026-11-24T00:00:00Z'))).toBeLessThan(18);
    expect(ageYearsExact('2026-05-10', new Date('2026-11-24T00:00:00Z'))).toBe(0.5);
  });

  it('accepts the optional renal, weight and lactation fields in the schema and refuses nonsense', () => {
    const base = sampleRx();
    expect(PrescriptionSubmissionSchema.safeParse({ ...base, patient: { ...base.patient, lactating: true, weightKg: 62.5, renal: { egfr: 48, crcl: 55, creatinineUmolL: 110, measuredOn: '2026-11-20' } } }).success).toBe(true);
    expect(PrescriptionSubmissionSchema.safeParse({ ...base, patient: { ...base.patient, renal: { egfr: -1 } } }).success).toBe(false);
  });
});

describe('the knowledge files', () => {
  const files = readClinicalFiles();
  const well = /^[A-Z](\d{2}([A-Z]([A-Z](\d{2})?)?)?)?$/;
  const matchers = (o: unknown): { atc?: string[]; names?: string[] }[] =>
    o && typeof o === 'object' ? [...('label' in (o as any) ? [o as any] : []), ...Object.values(o as object).flatMap(matchers)] : [];

  it('has every data set, each validated and versioned by its file name', () => {
    expect(files.map((f) => f.dataset).sort()).toEqual([...DATASET_NAMES].sort());
    for (const f of files) expect(f.file).toBe(`${f.dataset}.v${f.version}.json`);
  });

  it('holds at least 100 interaction pairs, at least 100 of them between drugs of the demo catalogue', () => {
    expect(knowledge.interactions.length).toBeGreaterThanOrEqual(100);
    const inCatalogue = knowledge.interactions.filter((e) =>
      [e.a, e.b].every((m) => DRUGS.some((d) => drugMatches(m, d, knowledge))));
    expect(inCatalogue.length).toBeGreaterThanOrEqual(100);
  });

  it('uses well-formed ATC codes everywhere', () => {
    const codes = files.flatMap((f) => matchers(f.entries)).flatMap((m) => m.atc ?? []);
    expect(codes.length).toBeGreaterThan(300);
    expect(codes.filter((c) => !well.test(c))).toEqual([]);
  });

  it('refuses an entry that breaks its schema or a file that is not what its name says', () => {
    const raw = { dataset: 'renal', version: 1, released: '2026-11-24', description: 'x', entries: [{ id: 'a', match: { label: 'x', atc: ['A10'] }, metric: 'egfr', refs: ['label'], bands: [{ below: 30, severity: 'serious', advice: 'x' }] }] };
    expect(() => parseKnowledgeFile(raw, 'h')).toThrow(KnowledgeFileError);
    expect(() => parseKnowledgeFile({ ...raw, entries: [] }, 'h', { dataset: 'renal', version: 2 })).toThrow(/named renal.v2/);
  });
});
