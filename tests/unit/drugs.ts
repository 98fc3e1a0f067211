// Small hand-made catalogue entries for unit tests of the pure rules.
import type { Drug } from '../../domain/types';

export function drug(code: string, over: Partial<Drug> = {}): Drug {
  return {
    code, genericNameZh: `药品${code}`, genericNameEn: `Drug ${code}`, brandNameZh: null, atcCode: 'A00AA00', category: '测试',
    dosageForm: '片剂', spec: '10mg×28片', unit: '盒', rxClass: 'Rx', insuranceClass: 'A', insuranceCode: `X${code}`,
    approvalNumber: `国药准字H${code.padStart(8, '0')}`, manufacturer: '测试制药', storage: 'normal', onlineSaleAllowed: true,
    bannedReason: null, priceFen: 2000, chronic: false, maxDailyDoseMg: null, pregnancyCategory: 'safe', minAgeYears: null,
    ...over,
  };
}

export const catalogue = (...drugs: Drug[]) => new Map(drugs.map((d) => [d.code, d]));
