import { cjkBigrams, ingredientOf, synonymsOf } from '../../catalog/synonyms';

describe('ingest-time text helpers', () => {
  it('takes the dosage form and edition mark off a generic name', () => {
    expect(ingredientOf('布洛芬缓释胶囊')).toBe('布洛芬');
    expect(ingredientOf('苯磺酸氨氯地平片')).toBe('苯磺酸氨氯地平');
    expect(ingredientOf('缬沙坦氨氯地平片（Ⅰ）')).toBe('缬沙坦氨氯地平');
    expect(ingredientOf('注射用头孢曲松钠')).toBe('头孢曲松钠');
    expect(ingredientOf('片')).toBe('片');
  });

  it('makes overlapping CJK bigrams and ignores Latin text', () => {
    expect(cjkBigrams('布洛芬', null, 'ABC 药')).toEqual(['布洛', '洛芬', '药']);
  });

  it('links a brand and every product of its ingredient', () => {
    expect(synonymsOf({ genericNameZh: '布洛芬片', brandNameZh: null })).toEqual(expect.arrayContaining(['布洛芬', '芬必得']));
    expect(synonymsOf({ genericNameZh: '苯磺酸氨氯地平片', brandNameZh: '络活喜' })).toEqual(['苯磺酸氨氯地平', '络活喜']);
  });
});
