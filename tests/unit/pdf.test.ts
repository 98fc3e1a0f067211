// The slip and the label with the CJK font parsed once per process (activities/pdf.ts): every document
// still carries its own subset of the font, so its Chinese text is extractable, and documents rendered
// one after another (or at once) do not share or lose glyphs.
import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { renderLabel, renderSlip, type LabelData, type SlipData } from '../../activities/pdf';

const FONT = process.env.RX_CJK_FONT ?? '/usr/share/fonts/truetype/wqy/wqy-microhei.ttc';
const haveFont = fs.existsSync(FONT);
const havePoppler = (() => { try { execFileSync('pdftotext', ['-v'], { stdio: 'ignore' }); return true; } catch { return false; } })();

const slip = (hospitalName: string, drug: string): SlipData => ({
  hospitalName, rxNo: 'RX-PDF-1', issuedAt: '2026-11-23T08:00:00.000Z', department: '心内科',
  patient: { name: '张三', gender: 'M', age: 56, ref: 'P-1' }, diagnoses: [{ code: 'I10', name: '原发性高血压' }],
  lines: [{ name: drug, spec: '5mg*28片', quantity: 1, unit: '盒', usage: '5mg 每日一次 口服 7天' }],
  doctor: { name: '李四', code: 'D001' }, pharmacist: { name: '王五', decidedAt: '2026-11-23T08:05:00.000Z' },
  pricing: { totalFen: 1234, insurerPaysFen: 1000, patientPaysFen: 234 }, signatureKeyId: 'k1', contentHash: 'ab'.repeat(32),
});
const label: LabelData = {
  deliveryId: 'D-1', rxNo: 'RX-PDF-1', pharmacy: { name: '西湖大药房', address: '杭州市西湖区文三路 1 号', phone: '0571-0000' },
  recipient: { name: '张三', maskedPhone: '138****0000', address: '杭州市西湖区某路 2 号' }, partner: '顺丰同城', coldChain: true, packages: 2,
};

function text(pdf: Buffer): string {
  const file = path.join(fs.mkdtempSync(path.join(os.tmpdir(), 'rxpdf-')), 'x.pdf');
  fs.writeFileSync(file, pdf);
  return execFileSync('pdftotext', [file, '-'], { encoding: 'utf8' });
}

(haveFont ? describe : describe.skip)('PDF documents with the CJK font parsed once', () => {
  it('renders valid PDFs whose own font subsets carry their text, one after another and at once', async () => {
    const [a, b, c] = await Promise.all([renderSlip(FONT, slip('杭州第一医院', '苯磺酸氨氯地平片')), renderSlip(FONT, slip('宁波眼科医院', '二甲双胍缓释片')), renderLabel(FONT, label)]);
    const d = await renderSlip(FONT, slip('温州口腔医院', '阿托伐他汀钙片'));
    for (const pdf of [a, b, c, d]) {
      expect(pdf.subarray(0, 5).toString()).toBe('%PDF-');
      expect(pdf.toString('latin1')).toMatch(/\/FontFile2/); // the subset is embedded, not referenced
    }
    if (!havePoppler) return;
    expect(text(a)).toContain('杭州第一医院');
    expect(text(a)).toContain('苯磺酸氨氯地平片');
    expect(text(b)).toContain('二甲双胍缓释片');
    expect(text(b)).not.toContain('苯磺酸');
    expect(text(c)).toContain('冷链');
    expect(text(d)).toContain('阿托伐他汀钙片');
  });

  it('still renders (without the CJK font) when the font file is missing', async () => {
    const pdf = await renderLabel('/nonexistent/font.ttc', { ...label, partner: 'SF', recipient: { ...label.recipient, name: 'Zhang' } });
    expect(pdf.subarray(0, 5).toString()).toBe('%PDF-');
  });
});
