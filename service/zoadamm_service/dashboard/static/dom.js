// The one way the dashboard puts anything on the page.  Every string becomes a text node or an
// attribute value set with setAttribute, never markup: a session's or a metric's name shows
// exactly as the client sent it, whatever it contains.  (The page's Content-Security-Policy
// also has the browser refuse any markup written from a string: Trusted Types.)

export const $ = (id) => document.getElementById(id);

// el("td", { class: "num", title: id }, "text", childNode, ...): an element with attributes
// and children; `style` takes an object (set through the CSSOM), `dataset` an object too.
export function el(tag, attributes = {}, ...children) {
  const node = document.createElement(tag);
  for (const [name, value] of Object.entries(attributes)) {
    if (value === undefined || value === null || value === false) continue;
    if (name === "style") Object.assign(node.style, value);
    else if (name === "dataset") Object.assign(node.dataset, value);
    else node.setAttribute(checkedName(name, value), value === true ? "" : String(value));
  }
  node.append(...nodes(children));
  return node;
}

// Replaces what `node` holds by `children` (strings become text).
export function show(node, ...children) {
  node.replaceChildren(...nodes(children));
}

function nodes(children) {
  return children.flat().filter((c) => c !== null && c !== undefined && c !== false)
    .map((c) => (c instanceof Node ? c : String(c)));
}

function checkedName(name, value) {
  // handlers are attached with addEventListener; links only point into this service
  if (/^on/i.test(name)) throw new Error(`el: no event attribute ${name}`);
  if (/^(href|src|action)$/i.test(name) && !/^[/#]/.test(String(value))) throw new Error(`el: ${name} must be a local path`);
  return name;
}
