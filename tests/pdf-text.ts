// Reads back what a pdfkit PDF says, for tests: the text of every text operation (through the embedded
// fonts' ToUnicode maps) and the rectangles drawn. Enough for the PDFs rxflow renders; not a PDF parser.
import { inflateSync } from 'node:zlib';

function streams(pdf: Buffer): string[] {
  const out: string[] = [];
  const bin = pdf.toString('latin1');
  const re = /stream\r?\n/g;
  let m: RegExpExecArray | null;
  while ((m = re.exec(bin))) {
    const start = m.index + m[0].length;
    const end = bin.indexOf('endstream', start);
    if (end < 0) break;
    const raw = pdf.subarray(start, end);
    try { out.push(inflateSync(raw).toString('latin1')); } catch { out.push(raw.toString('latin1')); }
    re.lastIndex = end + 'endstream'.length;
  }
  return out;
}

const hexToString = (h: string) => {
  let s = '';
  for (let i = 0; i + 4 <= h.length; i += 4) s += String.fromCharCode(parseInt(h.slice(i, i + 4), 16));
  return s;
};

/** Glyph code → text, from every ToUnicode CMap in the file (rxflow's PDFs embed one font). */
function toUnicode(all: string[]): Map<number, string> {
  const map = new Map<number, string>();
  for (const s of all.filter((x) => x.includes('begincmap'))) {
    for (const block of s.match(/beginbfrange([\s\S]*?)endbfrange/g) ?? []) {
      for (const line of block.split('\n')) {
        const arr = /<([0-9a-fA-F]+)>\s*<([0-9a-fA-F]+)>\s*\[(.*)\]/.exec(line);
        if (arr) {
          const from = parseInt(arr[1], 16);
          (arr[3].match(/<([0-9a-fA-F]*)>/g) ?? []).forEach((h, i) => map.set(from + i, hexToString(h.slice(1, -1))));
          continue;
        }
        const rng = /<([0-9a-fA-F]+)>\s*<([0-9a-fA-F]+)>\s*<([0-9a-fA-F]+)>/.exec(line);
        if (rng) for (let c = parseInt(rng[1], 16), u = parseInt(rng[3], 16); c <= parseInt(rng[2], 16); c++, u++) map.set(c, String.fromCharCode(u));
      }
    }
    for (const block of s.match(/beginbfchar([\s\S]*?)endbfchar/g) ?? []) {
      for (const [, c, u] of block.matchAll(/<([0-9a-fA-F]+)>\s*<([0-9a-fA-F]+)>/g)) map.set(parseInt(c, 16), hexToString(u));
    }
  }
  return map;
}

/** The text of the PDF, one line per text operation. */
export function pdfText(pdf: Buffer): string {
  const all = streams(pdf);
  const map = toUnicode(all);
  const lines: string[] = [];
  for (const s of all.filter((x) => /T[Jj]/.test(x) && !x.includes('begincmap'))) {
    for (const [, body] of s.matchAll(/\[((?:<[0-9a-fA-F]*>|[\s\d.-])*)\]\s*TJ/g)) {
      lines.push((body.match(/<([0-9a-fA-F]*)>/g) ?? []).map((h) => {
        const hex = h.slice(1, -1);
        let t = '';
        for (let i = 0; i + 4 <= hex.length; i += 4) t += map.get(parseInt(hex.slice(i, i + 4), 16)) ?? '\uFFFD';
        return t;
      }).join(''));
    }
  }
  return lines.join('\n');
}

/** Every rectangle filled in the content streams: [x, y, w, h] in the page's top-left coordinates as drawn. */
export function pdfRects(pdf: Buffer): [number, number, number, number][] {
  const out: [number, number, number, number][] = [];
  for (const s of streams(pdf)) for (const [, x, y, w, h] of s.matchAll(/(-?[\d.]+) (-?[\d.]+) (-?[\d.]+) (-?[\d.]+) re/g)) out.push([+x, +y, +w, +h]);
  return out;
}
