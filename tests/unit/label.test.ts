// The delivery label's rendering (activities/pdf.ts): drug names only when the caller passes them
// (RX_LABEL_SHOW_DRUGS=1 in dispatchDelivery); the storage lines; the QR code of the delivery id.
import fs from 'node:fs';
import { renderLabel, qrMatrix, LABEL_QR, type LabelData } from '../../activities/pdf';
import { pdfRects, pdfText } from '../pdf-text';

const FONT = process.env.RX_CJK_FONT ?? '/usr/share/fonts/truetype/wqy/wqy-microhei.ttc';
const label: LabelData = {
  deliveryId: '6f1c2f9e-0000-4000-8000-000000000001', rxNo: 'RX-2026-0001', partner: '顺丰同城', coldChain: true, packages: 2,
  pharmacy: { name: '西湖大药房', address: '杭州市文三路 1 号', phone: '0571-88880000' },
  recipient: { name: '张建国', maskedPhone: '138****0001', address: '杭州市西湖区文三路 90 号' },
  orderNo: 'b1d7c1de-0000-4000-8000-00000000000a', attempt: 2, storage: ['冷藏 2–8 ℃', '请勿冷冻', '避光'],
};

(fs.existsSync(FONT) ? describe : describe.skip)('the delivery label', () => {
  it('prints drug names only when they are given', async () => {
    const without = pdfText(await renderLabel(FONT, label)).replace(/\n/g, '');
    expect(without).toContain('第 2 次配送');
    expect(without).toContain('贮藏 冷藏 2–8 ℃  请勿冷冻  避光');
    expect(without).not.toContain('药品');
    const withDrugs = pdfText(await renderLabel(FONT, { ...label, drugs: ['甘精胰岛素注射液 ×1'] })).replace(/\n/g, '');
    expect(withDrugs).toContain('药品 甘精胰岛素注射液 ×1');
  });

  it('draws the delivery id\'s QR code module by module', async () => {
    const rects = pdfRects(await renderLabel(FONT, label)).filter(([, , w, h]) => w === LABEL_QR.module && h === LABEL_QR.module);
    const dark = qrMatrix(label.deliveryId).flat().filter(Boolean).length;
    expect(rects).toHaveLength(dark);
  });
});
