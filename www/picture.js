// Product pictures, drawn here: one SVG per product from its category (the shape), colour (the
// fill), style (a pattern: stripes, cable knit, quilting…) and brand (a small tag). Nothing is
// fetched. Only SVG attributes are used (no style attributes), so the page works under a
// Content-Security-Policy without 'unsafe-inline'.

const SVG = 'http://www.w3.org/2000/svg';

function el(name, attrs = {}, children = []) {
  const node = document.createElementNS(SVG, name);
  for (const [k, v] of Object.entries(attrs)) node.setAttribute(k, String(v));
  for (const c of children) node.append(c);
  return node;
}

/** #rrggbb mixed toward black (amount < 0) or white (amount > 0). */
export function shade(hex, amount) {
  const n = parseInt(hex.slice(1), 16);
  const mix = (c) => Math.round(amount < 0 ? c * (1 + amount) : c + (255 - c) * amount);
  const [r, g, b] = [(n >> 16) & 255, (n >> 8) & 255, n & 255].map(mix);
  return `#${((1 << 24) | (r << 16) | (g << 8) | b).toString(16).slice(1)}`;
}

/** Perceived lightness 0..1 of a #rrggbb colour. */
function lightness(hex) {
  const n = parseInt(hex.slice(1), 16);
  return (0.299 * ((n >> 16) & 255) + 0.587 * ((n >> 8) & 255) + 0.114 * (n & 255)) / 255;
}

// Outlines in a 120 × 100 box.
const SHAPES = {
  Jumper:
    'M42 14 Q60 24 78 14 L100 24 L112 70 L98 74 L90 44 L90 90 L30 90 L30 44 L22 74 L8 70 L20 24 Z',
  Jacket:
    'M44 12 L60 22 L76 12 L100 22 L110 78 L96 80 L90 46 L90 92 L30 92 L30 46 L24 80 L10 78 L20 22 Z',
  'T-Shirt': 'M42 16 Q60 26 78 16 L106 28 L98 46 L88 42 L88 90 L32 90 L32 42 L22 46 L14 28 Z',
  Jeans: 'M36 10 L84 10 L88 92 L66 92 L60 36 L54 92 L32 92 Z',
  Trainers:
    'M12 62 Q14 46 28 44 L46 40 Q56 30 66 38 L80 50 Q100 54 108 62 L110 72 L12 72 Z',
  Backpack: 'M32 22 Q32 12 42 12 L78 12 Q88 12 88 22 L92 86 Q92 94 84 94 L36 94 Q28 94 28 86 Z',
};

/** Extra lines drawn over the shape: seams, hems, laces, pockets. */
function details(category, ink) {
  const line = (d, w = 1.5) => el('path', { d, fill: 'none', stroke: ink, 'stroke-width': w, 'stroke-linecap': 'round', 'stroke-opacity': 0.55 });
  switch (category) {
    case 'Jumper':
      return [line('M42 14 Q60 30 78 14'), line('M30 84 L90 84'), line('M30 87 L90 87'), line('M9 66 L21 70'), line('M99 70 L111 66')];
    case 'Jacket':
      return [line('M60 22 L60 92', 2), line('M44 12 L54 30 L60 22 L66 30 L76 12'), line('M36 62 L50 62'), line('M70 62 L84 62')];
    case 'T-Shirt':
      return [line('M42 16 Q60 30 78 16'), line('M32 86 L88 86')];
    case 'Jeans':
      return [line('M36 18 L84 18'), line('M60 18 L60 36'), line('M40 22 Q44 32 52 26'), line('M80 22 Q76 32 68 26')];
    case 'Trainers':
      return [
        el('path', { d: 'M12 66 L110 66 L110 72 L12 72 Z', fill: '#f4f1ea', stroke: ink, 'stroke-opacity': 0.4 }),
        line('M48 42 L56 50'), line('M54 38 L62 46'), line('M60 36 L68 44'), line('M26 54 Q50 58 84 54'),
      ];
    case 'Backpack':
      return [line('M34 22 Q60 40 86 22', 2), line('M40 60 L80 60 L80 84 L40 84 Z'), line('M40 68 L80 68'), line('M50 12 Q60 2 70 12', 2)];
    default:
      return [];
  }
}

/** A pattern for the style word of the name (e.g. "Striped"), clipped to the shape. */
function pattern(style, ink, clipId) {
  const g = el('g', { 'clip-path': `url(#${clipId})`, stroke: ink, 'stroke-opacity': 0.35, fill: 'none' });
  const add = (d, w = 3) => g.append(el('path', { d, 'stroke-width': w }));
  switch (style) {
    case 'Striped':
      for (let y = 30; y < 96; y += 10) add(`M0 ${y} L120 ${y}`, 4);
      break;
    case 'Cable-Knit':
      for (let x = 40; x <= 80; x += 20) add(`M${x} 20 Q${x - 6} 30 ${x} 40 Q${x + 6} 50 ${x} 60 Q${x - 6} 70 ${x} 80 Q${x + 6} 86 ${x} 92`, 2.5);
      break;
    case 'Down':
    case 'Softshell':
      for (let y = 34; y < 96; y += 12) add(`M0 ${y} L120 ${y}`, 1.5);
      break;
    case 'Denim':
    case 'Canvas':
      for (let x = -100; x < 120; x += 6) add(`M${x} 100 L${x + 100} 0`, 0.8);
      break;
    case 'Merino':
    case 'Wool':
      for (let y = 26; y < 96; y += 8) for (let x = 26; x < 100; x += 8) add(`M${x} ${y} l2 3 l2 -3`, 1);
      break;
    case 'Running':
    case 'Trail':
      add('M30 60 Q60 50 100 60', 3);
      break;
    case 'Pocket':
      g.append(el('rect', { x: 64, y: 40, width: 14, height: 14, 'stroke-width': 1.5 }));
      break;
    case 'Roll-Top':
      for (let y = 16; y < 30; y += 5) add(`M32 ${y} L88 ${y}`, 1.5);
      break;
    default:
      break;
  }
  return g;
}

let uid = 0;

/** An <svg> picture of the product. `colours` maps colour names to hex codes. */
export function productPicture(product, colours) {
  const hex = colours.get(product.colour) ?? '#888888';
  const ink = lightness(hex) > 0.55 ? '#3a3226' : '#f7f3ea';
  const outline = shade(hex, -0.35);
  const style = product.name.split(' ')[1] ?? '';
  const clipId = `clip-${++uid}`;
  const shape = SHAPES[product.category] ?? SHAPES.Backpack;
  const svg = el('svg', { viewBox: '0 0 120 100', role: 'img', 'aria-label': `${product.name} (drawing)`, class: 'picture' });
  svg.append(
    el('defs', {}, [el('clipPath', { id: clipId }, [el('path', { d: shape })])]),
    el('rect', { x: 0, y: 0, width: 120, height: 100, fill: shade(hex, lightness(hex) > 0.55 ? -0.08 : 0.82) }),
    el('ellipse', { cx: 60, cy: 95, rx: 44, ry: 4, fill: '#000', 'fill-opacity': 0.08 }),
    el('path', { d: shape, fill: hex, stroke: outline, 'stroke-width': 2, 'stroke-linejoin': 'round' }),
    pattern(style, ink, clipId),
    ...details(product.category, ink),
  );
  // Brand tag: the brand's initial on a small label.
  const tag = el('g', {}, [
    el('rect', { x: 4, y: 4, width: 16, height: 12, rx: 2, fill: '#fffdf7', stroke: '#00000033' }),
    el('text', { x: 12, y: 13.5, 'text-anchor': 'middle', 'font-size': 9, 'font-family': 'system-ui, sans-serif', 'font-weight': 700, fill: '#333' }),
  ]);
  tag.lastChild.textContent = product.brand[0];
  svg.append(tag);
  return svg;
}
