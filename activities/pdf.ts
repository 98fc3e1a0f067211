// PDF rendering with pdfkit: the prescription slip (处方笺) and the delivery label.
// Chinese text needs a CJK font; the stack installs WenQuanYi Micro Hei (RX_CJK_FONT overrides).
import PDFDocument from 'pdfkit';
import fs from 'node:fs';
import { createRequire } from 'node:module';

// pdfkit's own fontkit (pdfkit accepts a parsed fontkit font as a font source).
const fontkit = createRequire(require.resolve('pdfkit'))('fontkit') as { create(data: Buffer, postscriptName?: string): unknown };
// Parsed once per process: reading and parsing the 5 MB CJK collection (and its cmap) per document was
// ~80 ms of CPU per PDF; with the parsed font reused, a slip costs ~5 ms (docs/benchmarks-e2e.md). Each
// document still embeds its own subset. A missing file is not cached, so installing the font later works.
const parsedFonts = new Map<string, unknown>();
function cjkFontOf(fontPath: string): unknown | null {
  const face = fontPath.endsWith('.ttc') ? process.env.RX_CJK_FONT_FACE ?? 'WenQuanYiMicroHei' : undefined;
  const key = `${fontPath}#${face ?? ''}`;
  if (!parsedFonts.has(key)) {
    if (!fs.existsSync(fontPath)) return null;
    // A collection needs the PostScript name of the face inside it.
    parsedFonts.set(key, fontkit.create(fs.readFileSync(fontPath), face));
  }
  return parsedFonts.get(key)!;
}
import QRCode from 'qrcode';

export interface SlipData {
  hospitalName: string;
  rxNo: string;
  issuedAt: string;
  department: string;
  patient: { name: string; gender: string; age: number; ref: string };
  diagnoses: { code: string; name: string }[];
  lines: { name: string; spec: string; quantity: number; unit: string; usage: string }[];
  doctor: { name: string; code: string };
  pharmacist?: { name: string; decidedAt: string } | null;
  pricing?: { totalFen: number; insurerPaysFen: number; patientPaysFen: number } | null;
  signatureKeyId: string;
  contentHash: string;
}

export interface LabelData {
  deliveryId: string;
  rxNo: string;
  pharmacy: { name: string; address: string; phone: string };
  recipient: { name: string; maskedPhone: string; address: string };
  partner: string;
  coldChain: boolean;
  packages: number;
  /** The fulfilment order's number, the attempt (a re-dispatch prints a new label), the storage lines (domain/storage-label.ts). */
  orderNo?: string;
  attempt?: number;
  storage?: string[];
  /** Drug names and quantities: only when RX_LABEL_SHOW_DRUGS=1 (absent otherwise). */
  drugs?: string[];
}

/** The QR code's modules (true = dark), row by row: what the label draws for `text`, error correction M. */
export function qrMatrix(text: string): boolean[][] {
  const { modules } = QRCode.create(text, { errorCorrectionLevel: 'M' });
  return Array.from({ length: modules.size }, (_r, r) => Array.from({ length: modules.size }, (_c, c) => Boolean(modules.data[r * modules.size + c])));
}

/** Where the label draws the QR code and how big a module is (tests regenerate the matrix and compare). */
export const LABEL_QR = { x: 196, y: 16, module: 2.5 } as const;

const yuan = (fen: number) => `¥${(fen / 100).toFixed(2)}`;

function render(fontPath: string, draw: (doc: PDFKit.PDFDocument) => void, size: [number, number] | 'A5' = 'A5'): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    const doc = new PDFDocument({ size, margin: 36, info: { Title: 'rxflow', Producer: 'rxflow' } });
    const chunks: Buffer[] = [];
    doc.on('data', (c: Buffer) => chunks.push(c));
    doc.on('end', () => resolve(Buffer.concat(chunks)));
    doc.on('error', reject);
    const font = cjkFontOf(fontPath);
    if (font) doc.font(font as never);
    draw(doc);
    doc.end();
  });
}

export function renderSlip(fontPath: string, s: SlipData): Promise<Buffer> {
  return render(fontPath, (doc) => {
    doc.fontSize(16).text(s.hospitalName, { align: 'center' });
    doc.fontSize(14).text('处 方 笺', { align: 'center' }).moveDown(0.3);
    doc.fontSize(9).text(`处方编号 ${s.rxNo}    开具时间 ${s.issuedAt}    科别 ${s.department}`);
    doc.text(`姓名 ${s.patient.name}    性别 ${s.patient.gender === 'M' ? '男' : '女'}    年龄 ${s.patient.age}岁    病历号 ${s.patient.ref}`);
    doc.text(`临床诊断 ${s.diagnoses.map((d) => `${d.name}（${d.code}）`).join('；')}`);
    doc.moveDown(0.3).fontSize(18).text('Rp.').fontSize(10);
    s.lines.forEach((l, i) => {
      doc.text(`${i + 1}. ${l.name}  ${l.spec}  ×${l.quantity}${l.unit}`);
      doc.fontSize(9).text(`    用法：${l.usage}`).fontSize(10);
    });
    doc.moveDown(0.5).fontSize(9);
    if (s.pricing) doc.text(`药费合计 ${yuan(s.pricing.totalFen)}    医保支付 ${yuan(s.pricing.insurerPaysFen)}    个人支付 ${yuan(s.pricing.patientPaysFen)}`);
    doc.text(`医师 ${s.doctor.name}（${s.doctor.code}）电子签名 ${s.signatureKeyId}`);
    doc.text(s.pharmacist ? `审核药师 ${s.pharmacist.name}  ${s.pharmacist.decidedAt}` : '审核药师 （待审核）');
    doc.moveDown(0.3).fontSize(7).text(`内容摘要 SHA-256 ${s.contentHash}`);
    doc.text('本处方为互联网医院复诊电子处方，当日有效；经药师审核后调配。');
  });
}

export function renderLabel(fontPath: string, l: LabelData): Promise<Buffer> {
  return render(fontPath, (doc) => {
    // The QR code of the delivery id, as vector squares (crisp at any printer's resolution), top right.
    const matrix = qrMatrix(l.deliveryId);
    matrix.forEach((row, r) => row.forEach((dark, c) => {
      if (dark) doc.rect(LABEL_QR.x + c * LABEL_QR.module, LABEL_QR.y + r * LABEL_QR.module, LABEL_QR.module, LABEL_QR.module);
    }));
    doc.fill('black');
    doc.fontSize(14).text(`${l.partner}`, 36, 36, { width: 150 }).text('配送面单', { width: 150 });
    doc.fontSize(8).text(`订单 ${l.orderNo ?? '-'}`, { width: 150 }).text(`运单 ${l.deliveryId}`, { width: 150 });
    doc.fontSize(9).text(`处方 ${l.rxNo}    件数 ${l.packages}    第 ${l.attempt ?? 1} 次配送`, 36, Math.max(doc.y, LABEL_QR.y + matrix.length * LABEL_QR.module + 4)).moveDown(0.3);
    doc.fontSize(11).text(`收件人 ${l.recipient.name}  ${l.recipient.maskedPhone}`).fontSize(10).text(l.recipient.address).moveDown(0.3);
    doc.fontSize(9).text(`发件药房 ${l.pharmacy.name}  ${l.pharmacy.phone}`).text(l.pharmacy.address);
    const storage = l.storage ?? (l.coldChain ? ['冷藏 2–8 ℃', '请勿冷冻'] : []);
    if (storage.length) doc.moveDown(0.3).fontSize(l.coldChain ? 13 : 10).text(`贮藏 ${storage.join('  ')}`, { underline: l.coldChain });
    if (l.coldChain) doc.fontSize(9).text('冷链配送');
    if (l.drugs?.length) doc.moveDown(0.3).fontSize(8).text(`药品 ${l.drugs.join('；')}`);
  }, [288, 360]);
}
