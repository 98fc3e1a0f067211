// Catalogue search as a Chinese pharmacist or patient types it, against the real index.
import { actors, closeDb } from './helpers';
import { drugByName } from '../../demo/prescriptions';

afterAll(closeDb);
const search = async (q: string) => (await actors().pharmacist.get(`/v1/drugs?q=${encodeURIComponent(q)}&size=10`)).body;
const names = (r: any) => r.hits.map((h: any) => h.drug.genericNameZh);

describe('catalogue search', () => {
  it('finds every product of an ingredient from one brand name (芬必得 → 布洛芬 …)', async () => {
    const r = await search('芬必得');
    expect(names(r)[0]).toBe('布洛芬缓释胶囊');
    expect(names(r)).toEqual(expect.arrayContaining(['布洛芬片', '布洛芬混悬液']));
    expect(r.hits[0].highlight).toBeDefined();
  });

  it('finds the brand products from the ingredient name', async () => {
    expect(names(await search('氨氯地平'))).toEqual(expect.arrayContaining(['苯磺酸氨氯地平片', '苯磺酸左旋氨氯地平片']));
  });

  it('forgives a misspelled English name and a wrong character in Chinese', async () => {
    expect(names(await search('ibuprofin'))[0]).toMatch(/布洛芬/);
    expect(names(await search('metformine'))[0]).toMatch(/二甲双胍/);
    expect(names(await search('苯黄酸氨氯地平'))).toContain('苯磺酸氨氯地平片'); // 黄 for 磺
  });

  it('ranks an exact identifier first and filters by class and storage', async () => {
    const d = drugByName('甘精胰岛素');
    expect((await search(d.approvalNumber)).hits[0].drug.code).toBe(d.code);
    const cold = (await actors().pharmacist.get(`/v1/drugs?q=${encodeURIComponent('胰岛素')}&storage=cold`)).body;
    expect(cold.hits.length).toBeGreaterThan(1);
    for (const h of cold.hits) expect(h.drug.storage).toBe('cold');
    const otc = (await actors().pharmacist.get(`/v1/drugs?q=blf&rxClass=OTC`)).body;
    for (const h of otc.hits) expect(h.drug.rxClass).toBe('OTC');
  });
});
