// The demo page's DOM helpers: h builds elements, morph brings a container's children up to
// date in place (see its comment for why the page never replaces what is on show); and kickText,
// the page's log line of a kick, which needs no page.

// h builds an element: h('button', {class: 'x', onclick: fn}, 'text', child…). Handlers are
// set as properties (el.onclick), which morph carries over to the element it keeps.
export function h(tag, attrs = {}, ...children) {
  const el = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs)) {
    if (v === undefined || v === null || v === false) continue;
    if (k.startsWith('on')) el[k] = v;
    else if (k === 'dataset') Object.assign(el.dataset, v);
    else el.setAttribute(k, v === true ? '' : v);
  }
  el.append(...children.flat().filter((c) => c !== null && c !== undefined && c !== false));
  return el;
}

// keyOf names an element among its siblings: its data-key, data-call or data-user.
const keyOf = (node) => node.dataset && (node.dataset.key ?? node.dataset.call ?? node.dataset.user);

// morph makes container's children look like children (new nodes from h) while keeping the
// nodes already there: an old child of the same tag and key (or, for a child without a key,
// the first old one of that tag without a key) stays, and is brought up to date in place;
// only the others are added or removed. Live updates therefore never replace a button whose
// card changed elsewhere (a click whose press and release land on two different elements is
// lost), nor move the keyboard focus, nor wipe what is being typed.
export function morph(container, children) {
  const old = [...container.childNodes];
  const nodes = children.map((next) => {
    const i = old.findIndex((n) => n && n.nodeName === next.nodeName && keyOf(n) === keyOf(next));
    if (i < 0) return next;
    const node = old[i];
    old[i] = null;
    update(node, next);
    return node;
  });
  for (const n of old) n?.remove();
  let at = container.firstChild;
  for (const node of nodes) { // kept nodes are in place unless the order changed
    if (node === at) at = at.nextSibling;
    else container.insertBefore(node, at);
  }
}

// update makes node, kept by morph, look like next: text, attributes, handlers, children.
function update(node, next) {
  if (node.nodeType === Node.TEXT_NODE) {
    if (node.data !== next.data) node.data = next.data;
    return;
  }
  for (const { name } of [...node.attributes]) if (!next.hasAttribute(name)) node.removeAttribute(name);
  for (const { name, value } of next.attributes) if (node.getAttribute(name) !== value) node.setAttribute(name, value);
  node.onclick = next.onclick; // the handlers the page gives h
  node.onsubmit = next.onsubmit;
  morph(node, [...next.childNodes]);
}

// kickText returns the log line of a kick, {reason, retry}. A kick of reason '' told none
// (docs/behaviour.md §12, "A kick that tells no reason"), and says so.
export function kickText(kick) {
  if (!kick.reason) return `kicked (no reason given, retry ${kick.retry})`;
  return `kicked: ${kick.reason} (retry ${kick.retry})`;
}
