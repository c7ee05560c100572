// Building the page from data, as text only. Strings always become text nodes (never
// markup), attribute values are set with setAttribute, and links are built from fixed
// prefixes with encodeURIComponent: event data is user input.

export function h(tag, props, ...children) {
  const el = document.createElement(tag);
  for (const [key, value] of Object.entries(props || {})) {
    if (value === null || value === undefined || value === false) continue;
    if (key === "class") el.className = value;
    else if (key === "dataset") Object.assign(el.dataset, value);
    else if (key.startsWith("on")) el.addEventListener(key.slice(2), value);
    else el.setAttribute(key, value === true ? "" : String(value));
  }
  append(el, children);
  return el;
}

export function append(el, children) {
  for (const child of children.flat(Infinity)) {
    if (child === null || child === undefined || child === false) continue;
    el.append(child instanceof Node ? child : document.createTextNode(String(child)));
  }
  return el;
}

export function setText(el, text) {
  const value = String(text);
  if (el.textContent !== value) el.textContent = value;
}

// A panel's status line: the text, marked "bad" when something failed or was refused.
export function setNote(el, text, bad = false) {
  if (!el) return;
  setText(el, text);
  el.classList.toggle("bad", bad);
}

export function clock(ms) {
  if (!ms) return "";
  const d = new Date(ms);
  return d.toLocaleTimeString([], { hour12: false }) + "." + String(d.getMilliseconds()).padStart(3, "0");
}

export function shortId(id, n = 8) {
  return id ? String(id).slice(0, n) : "";
}

export function jsonFromScript(id) {
  const el = document.getElementById(id);
  return el ? JSON.parse(el.textContent) : null;
}

export function cookie(name) {
  const found = document.cookie.split("; ").find((c) => c.startsWith(name + "="));
  return found ? decodeURIComponent(found.slice(name.length + 1)) : "";
}

// POST a JSON body with the CSRF token; the reply as {success, data | error} even when the
// server or the network fails (an HTML error page, a dropped connection).
export async function postJson(url, body) {
  try {
    const response = await fetch(url, {
      method: "POST",
      credentials: "same-origin",
      headers: { "Content-Type": "application/json", "X-CSRFToken": cookie("csrftoken") },
      body: JSON.stringify(body),
    });
    const type = response.headers.get("Content-Type") || "";
    if (type.includes("application/json")) return await response.json();
    return { success: false, error: `HTTP ${response.status}` };
  } catch (err) {
    return { success: false, error: String(err && err.message ? err.message : err) };
  }
}

// A span of time for people: "840 ms", "5.1 s", "1 m 5.1 s", "2 h 3 m".
export function duration(ms) {
  const value = Number(ms);
  if (!Number.isFinite(value)) return "";
  if (Math.abs(value) < 1000) return `${Math.round(value * 10) / 10} ms`;
  const seconds = value / 1000;
  if (seconds < 60) return `${seconds.toFixed(1)} s`;
  const minutes = Math.floor(seconds / 60);
  if (minutes < 60) return `${minutes} m ${(seconds - minutes * 60).toFixed(1)} s`;
  return `${Math.floor(minutes / 60)} h ${minutes % 60} m`;
}

// An offset from the start of a flow (the caller adds the "+"): +65104 ms reads "1 m 5.1 s".
export const offset = duration;

// A <time> that says "12 s ago" with the exact moment on hover; refreshRelative() keeps the
// words current.
export function ago(ms, props = {}) {
  return h("time", { ...props, datetime: new Date(ms).toISOString(), title: exact(ms), dataset: { at: ms } }, relative(ms));
}

export function refreshRelative(root = document) {
  const now = Date.now();
  for (const el of root.querySelectorAll("time[data-at]")) setText(el, relative(Number(el.dataset.at), now));
}

// "12 s ago", "3 m ago", "2 h ago"; the exact time belongs in a title beside it.
export function relative(ms, now = Date.now()) {
  if (!ms) return "";
  const seconds = Math.max(0, Math.round((now - ms) / 1000));
  if (seconds < 5) return "just now";
  if (seconds < 60) return `${seconds} s ago`;
  if (seconds < 3600) return `${Math.floor(seconds / 60)} m ago`;
  if (seconds < 86400) return `${Math.floor(seconds / 3600)} h ago`;
  return `${Math.floor(seconds / 86400)} d ago`;
}

// The exact moment, to the millisecond, for a title attribute.
export function exact(ms) {
  return ms ? new Date(ms).toISOString().replace("T", " ").replace("Z", " UTC") : "";
}

// A time to the second, without milliseconds (the shop).
export function clockSeconds(ms) {
  return ms ? new Date(ms).toLocaleTimeString([], { hour12: false }) : "";
}
