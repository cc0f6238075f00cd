/**
 * Building the pages' markup from data: elements and text nodes only, never
 * HTML from strings, so a name like `<img onerror=…>` is shown as typed.
 */

const SVG_NS = 'http://www.w3.org/2000/svg';

function setProps(el, props) {
  for (const [key, value] of Object.entries(props || {})) {
    if (value === undefined || value === null || value === false) continue;
    if (key === 'text') el.textContent = String(value);
    else if (key === 'class') el.setAttribute('class', String(value));
    else if (key.startsWith('on') && typeof value === 'function') el.addEventListener(key.slice(2), value);
    else el.setAttribute(key, value === true ? '' : String(value));
  }
}

function append(el, children) {
  for (const child of children.flat(Infinity)) {
    if (child === undefined || child === null || child === false) continue;
    el.append(typeof child === 'object' ? child : document.createTextNode(String(child)));
  }
}

/** `h('td', {class: 'num', 'data-duration': 12}, '0:00:12')` */
export function h(tag, props, ...children) {
  const el = document.createElement(tag);
  setProps(el, props);
  append(el, children);
  return el;
}

/** The same for SVG elements. */
export function svg(tag, props, ...children) {
  const el = document.createElementNS(SVG_NS, tag);
  setProps(el, props);
  append(el, children);
  return el;
}

export function $(id) {
  return document.getElementById(id);
}

/** Sets an element's text (and `data-value`), touching the DOM only when it changes. */
export function setText(el, text, value) {
  if (!el) return;
  const s = String(text);
  if (el.textContent !== s) el.textContent = s;
  if (value !== undefined) {
    const v = String(value);
    if (el.getAttribute('data-value') !== v) el.setAttribute('data-value', v);
  }
}

/** Replaces an element's children. */
export function fill(el, ...children) {
  if (!el) return;
  el.replaceChildren();
  append(el, children);
}

/** A status dot and its word, e.g. `status('online', 'Active')` (colours in the page's CSS). */
export function status(kind, word) {
  return h('span', { class: `status status-${kind}` }, h('span', { class: 'dot', 'aria-hidden': 'true' }), word);
}
