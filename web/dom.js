// dom.js — the one way the page builds elements. Text always goes in through textContent (or text
// nodes); nothing here, or anywhere in the page, assigns innerHTML.

// el('li', {class: 'x', text: 'hello', attrs: {title: 't'}, data: {key: 'v'}}, child, 'text', ...)
export function el(tag, opts = {}, ...children) {
  const e = document.createElement(tag);
  if (opts.class) e.className = opts.class;
  if (opts.text !== undefined && opts.text !== null) e.textContent = String(opts.text);
  for (const [k, v] of Object.entries(opts.attrs || {})) e.setAttribute(k, String(v));
  for (const [k, v] of Object.entries(opts.data || {})) e.dataset[k] = String(v);
  for (const c of children) {
    if (c === null || c === undefined || c === false) continue;
    e.append(c instanceof Node ? c : document.createTextNode(String(c)));
  }
  return e;
}

export function clear(e) {
  while (e.firstChild) e.firstChild.remove();
  return e;
}
