// The catalogue generator (catalog/generate.ts): deterministic, unique codes, pharmacies where their
// city is, cold-chain stock only where it can be kept cold.
import { createHash } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { CITIES, FILES, STOCK_PER_PHARMACY, generateCatalogue, specVariants, type GenerateSummary } from '../../catalog/generate';
import type { Drug, PharmacyInfo } from '../../domain/types';
import demo from '../../catalog/data/drugs.json';

const demoDrugs = demo as Drug[];
const tmp = mkdtempSync(path.join(os.tmpdir(), 'rxflow-generate-'));
afterAll(() => rmSync(tmp, { recursive: true, force: true }));

const readNdjson = <T>(dir: string, file: string): T[] =>
  readFileSync(path.join(dir, file), 'utf8').split('\n').filter(Boolean).map((l) => JSON.parse(l) as T);
const sha256 = (file: string) => createHash('sha256').update(readFileSync(file)).digest('hex');
const shas = (s: GenerateSummary) => Object.values(s.files).map((f) => f.sha256);

describe('catalogue generator', () => {
  const SKUS = 1500;
  const PHARMACIES = 200;
  const dir = path.join(tmp, 'a');
  let summary: GenerateSummary;
  let drugs: Drug[];
  let pharmacies: PharmacyInfo[];
  let stock: { pharmacyCode: string; drugCode: string; onHand: number; priceFen: number }[];

  beforeAll(async () => {
    summary = await generateCatalogue({ out: dir, seed: 7, skus: SKUS, pharmacies: PHARMACIES });
    drugs = readNdjson(dir, FILES.drugs);
    pharmacies = readNdjson(dir, FILES.pharmacies);
    stock = readNdjson(dir, FILES.stock);
  });

  it('gives byte-identical files for the same seed, and other files for another seed', async () => {
    const again = await generateCatalogue({ out: path.join(tmp, 'b'), seed: 7, skus: SKUS, pharmacies: PHARMACIES });
    expect(shas(again)).toEqual(shas(summary));
    for (const f of [FILES.drugs, FILES.pharmacies, FILES.stock]) expect(sha256(path.join(tmp, 'b', f))).toBe(sha256(path.join(dir, f)));
    expect(readFileSync(path.join(tmp, 'b', FILES.manifest), 'utf8')).toBe(readFileSync(path.join(dir, FILES.manifest), 'utf8'));

    const other = await generateCatalogue({ out: path.join(tmp, 'c'), seed: 8, skus: SKUS, pharmacies: PHARMACIES });
    expect(other.files['pharmacies.ndjson'].sha256).not.toBe(summary.files['pharmacies.ndjson'].sha256);
    expect(other.files['stock.ndjson'].sha256).not.toBe(summary.files['stock.ndjson'].sha256);
  });

  it('reports the rows, bytes and sha256 of what it wrote', () => {
    expect(summary.files['drugs.ndjson'].rows).toBe(SKUS);
    expect(summary.files['pharmacies.ndjson'].rows).toBe(PHARMACIES);
    expect(summary.files['stock.ndjson'].rows).toBe(stock.length);
    expect(drugs).toHaveLength(SKUS);
    expect(pharmacies).toHaveLength(PHARMACIES);
    for (const [file, f] of Object.entries(summary.files)) {
      expect(sha256(path.join(dir, file))).toBe(f.sha256);
      expect(readFileSync(path.join(dir, file)).length).toBe(f.bytes);
    }
  });

  it('keeps pharmacy i the same whatever the number generated', async () => {
    const few = await generateCatalogue({ out: path.join(tmp, 'd'), seed: 7, skus: SKUS, pharmacies: 20 });
    expect(readNdjson(path.join(tmp, 'd'), FILES.pharmacies)).toEqual(pharmacies.slice(0, 20));
    expect(few.files['stock.ndjson'].rows).toBe(stock.filter((s) => pharmacies.slice(0, 20).some((p) => p.code === s.pharmacyCode)).length);
  });

  it('starts with the demo drugs unchanged, then generated SKUs of the demo generics', () => {
    expect(drugs.slice(0, demoDrugs.length)).toEqual(demoDrugs);
    const generated = drugs.slice(demoDrugs.length);
    generated.forEach((d, i) => expect(d.code).toBe(`G${String(i + 1).padStart(6, '0')}`));
    for (const d of generated) {
      const origins = demoDrugs.filter((o) => o.genericNameZh === d.genericNameZh && o.atcCode === d.atcCode);
      expect(origins.length).toBeGreaterThan(0);
      // The approval letter (H chemical, Z TCM, S biologic, J imported) is the demo drug's.
      expect(origins.map((o) => o.approvalNumber[4])).toContain(d.approvalNumber[4]);
      // Rx class, insurance, storage and online-sale flags are the generic's.
      expect(origins.some((o) => o.rxClass === d.rxClass && o.insuranceClass === d.insuranceClass && o.storage === d.storage
        && o.onlineSaleAllowed === d.onlineSaleAllowed && o.bannedReason === d.bannedReason)).toBe(true);
      // Only the brand owner's own packs carry the brand.
      if (d.brandNameZh !== null) expect(origins.some((o) => o.brandNameZh === d.brandNameZh && o.manufacturer === d.manufacturer)).toBe(true);
      expect(d.priceFen).toBeGreaterThan(0);
      expect(d.approvalNumber).toMatch(/^国药准字[HZSJ]\d{8}$/);
    }
    // Another maker, pack size or strength: no generated SKU repeats its demo drug.
    const demoKey = new Set(demoDrugs.map((o) => `${o.genericNameZh}|${o.manufacturer}|${o.spec}`));
    expect(generated.filter((d) => demoKey.has(`${d.genericNameZh}|${d.manufacturer}|${d.spec}`))).toEqual([]);
    expect(new Set(generated.map((d) => d.manufacturer)).size).toBeGreaterThanOrEqual(40);
  });

  it('gives every SKU a unique code, approval number and insurance code, clear of the demo codes', () => {
    for (const key of ['code', 'approvalNumber', 'insuranceCode'] as const) expect(new Set(drugs.map((d) => d[key])).size).toBe(drugs.length);
    expect(drugs.filter((d) => !/^(RX\d{4}|G\d{6})$/.test(d.code))).toEqual([]);
    expect(new Set(pharmacies.map((p) => p.code)).size).toBe(PHARMACIES);
    expect(pharmacies.filter((p) => !/^PG\d{6}$/.test(p.code))).toEqual([]);
  });

  it('places every pharmacy inside its city, in one of its districts, with sensible hours', () => {
    const byName = new Map(CITIES.map((c) => [c.name, c]));
    for (const p of pharmacies) {
      const city = byName.get(p.city)!;
      expect(city).toBeDefined();
      expect(p.lat).toBeGreaterThanOrEqual(city.box.minLat);
      expect(p.lat).toBeLessThanOrEqual(city.box.maxLat);
      expect(p.lng).toBeGreaterThanOrEqual(city.box.minLng);
      expect(p.lng).toBeLessThanOrEqual(city.box.maxLng);
      expect(city.districts.map((d) => d.name)).toContain(p.district);
      expect(p.address.startsWith(`${p.city}市${p.district}`)).toBe(true);
      expect(p.phone.startsWith(`${city.areaCode}-`)).toBe(true);
      expect(p.openingHours.open).toMatch(/^([01]\d|2[0-4]):[0-5]\d$/);
      expect(p.openingHours.close).toMatch(/^([01]\d|2[0-4]):[0-5]\d$/);
      expect(p.is24h).toBe(p.openingHours.open === '00:00' && p.openingHours.close === '24:00');
      if (p.kind === 'dtp') expect(p.coldChain).toBe(true);
    }
    expect(new Set(pharmacies.map((p) => p.city)).size).toBeGreaterThanOrEqual(6);
    const share = (f: (p: PharmacyInfo) => boolean) => pharmacies.filter(f).length / pharmacies.length;
    expect(share((p) => p.is24h)).toBeGreaterThan(0.08);
    expect(share((p) => p.is24h)).toBeLessThan(0.25);
    expect(share((p) => p.coldChain)).toBeGreaterThan(0.5);
    expect(share((p) => p.coldChain)).toBeLessThan(0.7);
    expect(new Set(pharmacies.map((p) => p.name)).size).toBe(PHARMACIES);
  });

  it('stocks cold-chain SKUs only at cold-chain pharmacies, and only SKUs that may be sold online', () => {
    const drug = new Map(drugs.map((d) => [d.code, d]));
    const pharmacy = new Map(pharmacies.map((p) => [p.code, p]));
    const cold = stock.filter((s) => drug.get(s.drugCode)!.storage === 'cold');
    expect(cold.length).toBeGreaterThan(0);
    expect(cold.filter((s) => !pharmacy.get(s.pharmacyCode)!.coldChain)).toEqual([]);
    expect(stock.filter((s) => !drug.get(s.drugCode)!.onlineSaleAllowed)).toEqual([]);
    expect(new Set(stock.map((s) => `${s.pharmacyCode}/${s.drugCode}`)).size).toBe(stock.length);
    expect(stock.filter((s) => !pharmacy.has(s.pharmacyCode) || !(s.priceFen > 0) || !(s.onHand >= 0))).toEqual([]);
  });

  it('gives each pharmacy 300–800 SKUs, most online-sellable demo generics at most pharmacies', () => {
    const perPharmacy = new Map<string, Set<string>>();
    for (const s of stock) (perPharmacy.get(s.pharmacyCode) ?? perPharmacy.set(s.pharmacyCode, new Set()).get(s.pharmacyCode)!).add(s.drugCode);
    expect(perPharmacy.size).toBe(PHARMACIES);
    for (const codes of perPharmacy.values()) {
      expect(codes.size).toBeGreaterThanOrEqual(STOCK_PER_PHARMACY.min);
      expect(codes.size).toBeLessThanOrEqual(STOCK_PER_PHARMACY.max);
    }
    // Under at least one SKU (the demo one or another maker's): ~90% of the pharmacies that may keep it.
    const genericKey = (d: Drug) => `${d.genericNameZh}|${d.atcCode}`;
    const drugGeneric = new Map(drugs.map((d) => [d.code, genericKey(d)]));
    for (const g of demoDrugs.filter((d) => d.onlineSaleAllowed)) {
      const eligible = pharmacies.filter((p) => g.storage !== 'cold' || p.coldChain);
      const carrying = eligible.filter((p) => [...perPharmacy.get(p.code)!].some((c) => drugGeneric.get(c) === genericKey(g)));
      expect(carrying.length / eligible.length).toBeGreaterThan(0.75);
    }
  });

  it('derives pack sizes and strengths from the demo specification', () => {
    const specs = specVariants('0.3g×20粒', '胶囊').map((v) => v.spec);
    expect(specs[0]).toBe('0.3g×20粒');
    expect(specs).toEqual(expect.arrayContaining(['0.3g×16粒', '0.3g×24粒', '0.15g×20粒', '0.6g×20粒']));
    expect(specVariants('150mg/12.5mg×7片', '片剂').map((v) => v.spec)).not.toContain('75mg/12.5mg×7片');
    expect(specVariants('1%:20g', '软膏').map((v) => v.spec)).toEqual(['1%:20g', '1%:15g', '1%:25g']);
    expect(specVariants('85g+30g', '喷雾剂').map((v) => v.spec)).toEqual(['85g+30g']);
    expect(specVariants('0.5g×30片', '片剂').map((v) => v.spec)).toEqual(expect.arrayContaining(['0.25g×30片', '1g×30片']));
  });

  it('refuses sizes it cannot produce', async () => {
    await expect(generateCatalogue({ out: path.join(tmp, 'e'), skus: 10, pharmacies: 1 })).rejects.toThrow(RangeError);
    await expect(generateCatalogue({ out: path.join(tmp, 'e'), skus: 10_000_000, pharmacies: 1 })).rejects.toThrow(RangeError);
    await expect(generateCatalogue({ out: path.join(tmp, 'e'), skus: 500, pharmacies: 0 })).rejects.toThrow(RangeError);
  });
});
