// A tiny XML well-formedness check for the generated SVGs (tags balanced, attributes quoted,
// entities valid, one root). Returns null when well-formed, else what is wrong and where.
const NAME = /^[A-Za-z_:][A-Za-z0-9_:.-]*/;
const ENTITY = /^&(amp|lt|gt|quot|apos|#[0-9]+|#x[0-9A-Fa-f]+);/;

function badAmpersand(text: string): number {
  for (let i = text.indexOf('&'); i >= 0; i = text.indexOf('&', i + 1)) if (!ENTITY.test(text.slice(i))) return i;
  return -1;
}

export function xmlProblem(xml: string): string | null {
  const stack: string[] = [];
  let roots = 0;
  let i = 0;
  if (xml.startsWith('<?xml')) {
    const end = xml.indexOf('?>');
    if (end < 0) return 'unterminated XML declaration';
    i = end + 2;
  }
  while (i < xml.length) {
    const lt = xml.indexOf('<', i);
    const text = xml.slice(i, lt < 0 ? xml.length : lt);
    if (stack.length === 0 && text.trim() !== '') return `text outside the root element at ${i}`;
    const amp = badAmpersand(text);
    if (amp >= 0) return `bad entity at ${i + amp}`;
    if (text.includes('>')) return `stray ">" at ${i + text.indexOf('>')}`;
    if (lt < 0) break;
    if (xml.startsWith('<!--', lt)) {
      const end = xml.indexOf('-->', lt + 4);
      if (end < 0) return `unterminated comment at ${lt}`;
      i = end + 3;
      continue;
    }
    const gt = xml.indexOf('>', lt);
    if (gt < 0) return `unterminated tag at ${lt}`;
    let tag = xml.slice(lt + 1, gt);
    if (tag.startsWith('/')) {
      const name = tag.slice(1).trim();
      const open = stack.pop();
      if (open !== name) return `</${name}> at ${lt} closes <${open ?? 'nothing'}>`;
      i = gt + 1;
      continue;
    }
    const selfClosing = tag.endsWith('/');
    if (selfClosing) tag = tag.slice(0, -1);
    const name = NAME.exec(tag)?.[0];
    if (!name) return `tag without a valid name at ${lt}`;
    let rest = tag.slice(name.length);
    const seen = new Set<string>();
    while (rest.trim() !== '') {
      const m = /^\s+([A-Za-z_:][A-Za-z0-9_:.-]*)\s*=\s*("([^"<]*)"|'([^'<]*)')/.exec(rest);
      if (!m) return `malformed attribute in <${name}> at ${lt}: ${rest.trim().slice(0, 40)}`;
      const attr = m[1] as string;
      if (seen.has(attr)) return `duplicate attribute ${attr} in <${name}> at ${lt}`;
      seen.add(attr);
      if (badAmpersand(m[3] ?? m[4] ?? '') >= 0) return `bad entity in attribute ${attr} of <${name}> at ${lt}`;
      rest = rest.slice(m[0].length);
    }
    if (stack.length === 0) roots++;
    if (roots > 1) return `second root element <${name}> at ${lt}`;
    if (!selfClosing) stack.push(name);
    i = gt + 1;
  }
  if (stack.length) return `unclosed <${stack[stack.length - 1]}>`;
  if (roots !== 1) return 'no root element';
  return null;
}
