// The shop page: live stock and this browser's own orders, over /ws/shop/.
import { clockSeconds, cookie, exact, h, jsonFromScript, setText } from "./dom.js";
import { LiveSocket, showStatus } from "./live-socket.js";

const state = jsonFromScript("shop-state") || { products: [], orders: [] };
const config = document.getElementById("shop-config").dataset;
const staff = config.staff === "1";
const currency = config.currency || "";
const MESSAGE_CLEARS_MS = 5000;
const STEP_LABELS = { reserve_stock: "reserve stock", authorize_payment: "authorize payment", create_shipment: "create shipment" };
let messageTimer = 0;

function money(amount) {
  return currency + Number(amount).toLocaleString("en-US", { minimumFractionDigits: 0, maximumFractionDigits: 2 });
}

// The saga's steps in order: done, failed with its reason, compensated, skipped or pending.
function sagaSteps(o) {
  const steps = (o.saga && o.saga.steps) || [];
  if (!steps.length) return null;
  return h("ol", { class: "saga", "aria-label": `steps of order ${o.orderId}` }, steps.map((s) => {
    const at = s.compensatedAt || s.failedAt || s.doneAt;
    return h("li", { class: `step step-${s.state}`, dataset: { step: s.step, state: s.state }, title: at ? exact(at) : null },
      h("span", { class: "step-name" }, STEP_LABELS[s.step] || s.step), " ",
      h("span", { class: `badge step-state status-${s.state}` }, s.state),
      s.detail && (s.state === "failed" || s.state === "compensated") ? h("span", { class: "step-detail" }, ` ${s.detail}`) : null);
  }));
}

// A pending order whose flow has a dead letter goes no further until staff act: say so.
function waiting(o) {
  if (o.status !== "pending" || !o.waitingOn || !o.waitingOn.length) return null;
  const what = o.waitingOn.map((w) => `${w.subscriber} on ${w.eventType}`).join(", ");
  return h("div", { class: "waiting", role: "note" },
    `Waiting: a step failed repeatedly and was set aside for staff (${what}). It continues once they retry it.`);
}
const productsEl = document.getElementById("products");
const ordersEl = document.getElementById("orders");
const select = document.getElementById("order-product");
const form = document.getElementById("order-form");
const message = document.getElementById("order-message");

function renderProducts() {
  const rows = state.products.map((p) =>
    h("tr", { dataset: { product: p.productId } },
      h("td", null, h("span", { class: "name" }, p.name), " ", h("code", null, p.productId)),
      h("td", { class: "num price" }, money(p.price)),
      h("td", { class: "num stock" }, p.stock)));
  productsEl.replaceChildren(...rows);
  const chosen = select.value;
  select.replaceChildren(...state.products.map((p) =>
    h("option", { value: p.productId }, `${p.name} (${p.productId})`)));
  if (chosen) select.value = chosen;
}

function renderOrders() {
  if (!state.orders.length) {
    ordersEl.replaceChildren(h("li", { class: "empty" }, "No orders yet."));
    return;
  }
  ordersEl.replaceChildren(...state.orders.map((o) =>
    h("li", { class: "order", dataset: { order: o.orderId, status: o.status } },
      h("div", { class: "order-head" },
        h("code", { class: "order-id" }, o.orderId),
        h("span", { class: `badge status-${o.status}`, "data-role": "status" }, o.status),
        h("time", { class: "when", datetime: new Date(o.createdAt).toISOString(), title: exact(o.createdAt) }, clockSeconds(o.createdAt))),
      h("div", { class: "order-body" },
        "for ", h("span", { class: "user-id" }, o.userId), ": ",
        o.items.map((i) => `${i.quantity} × ${i.productId}`).join(", "),
        ` — total `, h("span", { class: "total" }, money(o.totalAmount))),
      sagaSteps(o),
      waiting(o),
      o.statusReason ? h("div", { class: "reason" }, o.statusReason) : null,
      staff && o.correlationId
        ? h("a", { class: "flow-link", href: `/dashboard/?flow=${encodeURIComponent(o.correlationId)}` },
          "view its flow on the dashboard")
        : null)));
}

function mergeOrders(fresh) {
  // Orders the server knows replace ours; a just-placed one stays until the server has it.
  const known = new Set(fresh.map((o) => o.orderId));
  state.orders = [...state.orders.filter((o) => !known.has(o.orderId)), ...fresh]
    .sort((a, b) => b.createdAt - a.createdAt || (a.orderId < b.orderId ? 1 : -1))
    .slice(0, 20);
}

const socket = new LiveSocket("/ws/shop/", {
  onOpen: () => socket.send({ type: "watch" }),
  onStatus: showStatus,
  onMessage: (msg) => {
    if (msg.type !== "shop") return;
    state.products = msg.products;
    mergeOrders(msg.orders);
    renderProducts();
    renderOrders();
  },
});

form.addEventListener("submit", async (e) => {
  e.preventDefault();
  clearTimeout(messageTimer);
  setText(message, "placing…");
  const body = {
    userId: document.getElementById("order-user").value,
    items: [{ productId: select.value, quantity: Number(document.getElementById("order-quantity").value) }],
  };
  let reply;
  try {
    const response = await fetch("/shop/orders", {
      method: "POST",
      headers: { "Content-Type": "application/json", "X-CSRFToken": cookie("csrftoken") },
      body: JSON.stringify(body),
      credentials: "same-origin",
    });
    reply = await response.json();
  } catch (err) {
    setText(message, `could not place the order: ${err}`);
    return;
  }
  if (!reply.success) {
    setText(message, reply.error);
    return;
  }
  setText(message, `order ${reply.data.orderId} placed`);
  clearTimeout(messageTimer);
  messageTimer = setTimeout(() => setText(message, ""), MESSAGE_CLEARS_MS);
  mergeOrders([reply.data]);
  renderOrders();
  socket.send({ type: "watch" });
});

renderProducts();
renderOrders();
