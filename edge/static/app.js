// Gatehouse pages: submits every form to the JSON API with fetch, shows errors in words next to
// the form, and loads the account and app data. Values from the server are inserted as text only
// (never parsed as markup), and the script only talks to this origin.
"use strict";

const MESSAGES = {
  INVALID_EMAIL_OR_PASSWORD: "The email address or password is incorrect.",
  INVALID_EMAIL: "Enter a valid email address.",
  INVALID_PASSWORD: "The password is incorrect.",
  PASSWORD_TOO_SHORT: "The password is too short: use at least 8 characters.",
  PASSWORD_TOO_LONG: "The password is too long: use at most 128 characters.",
  USER_ALREADY_EXISTS_USE_ANOTHER_EMAIL:
    "An account with this email address already exists. Sign in, or use another address.",
  EMAIL_NOT_VERIFIED: "Verify your email address first: use the link we emailed you.",
  VALIDATION_ERROR: "Some fields are missing or not valid.",
  INVALID_TOKEN: "This link is not valid or was already used. Ask for a new one.",
  TOKEN_EXPIRED: "This link has expired. Ask for a new one.",
  SESSION_NOT_FRESH: "For your safety, sign out and sign in again before doing this.",
  SESSION_EXPIRED: "For your safety, sign out and sign in again before doing this.",
  UNAUTHORIZED: "You are signed out. Sign in again.",
  EMAIL_ALREADY_VERIFIED: "This email address is already verified.",
  EMAIL_MISMATCH: "This is not the email address of the signed-in account.",
  CREDENTIAL_ACCOUNT_NOT_FOUND: "This account has no password.",
  INVALID_ORIGIN: "The request was refused for safety. Reload the page and try again.",
  MISSING_OR_NULL_ORIGIN: "The request was refused for safety. Reload the page and try again.",
  TOO_MANY_REQUESTS: "Too many attempts. Wait a moment and try again.",
  PROVIDER_NOT_FOUND: "This sign-in provider is not configured.",
  PROVIDER_UNAVAILABLE: "The sign-in provider cannot be reached right now. Try again in a moment.",
  FAILED_TO_UNLINK_LAST_ACCOUNT: "This is your only way to sign in, so it cannot be removed. Set a password or link another provider first.",
  ACCOUNT_NOT_FOUND: "This linked account no longer exists. Reload the page.",
};

// Sentences for one form's errors where the general one would leave the reader guessing
// (by form id). Deleting without a password needs a session signed in recently.
const FORM_MESSAGES = {
  delete: {
    SESSION_NOT_FRESH: "For your safety, sign in again before deleting your account: sign out, then sign in.",
    SESSION_EXPIRED: "For your safety, sign in again before deleting your account: sign out, then sign in.",
  },
};

// Which inputs an error code is about (the first one present in the form is marked).
const FIELDS = {
  INVALID_EMAIL: ["email"],
  EMAIL_MISMATCH: ["email"],
  EMAIL_ALREADY_VERIFIED: ["email"],
  USER_ALREADY_EXISTS_USE_ANOTHER_EMAIL: ["email"],
  INVALID_EMAIL_OR_PASSWORD: ["password"],
  INVALID_PASSWORD: ["currentPassword", "password"],
  PASSWORD_TOO_SHORT: ["newPassword", "password"],
  PASSWORD_TOO_LONG: ["newPassword", "password"],
};

const SIGNED_IN_PAGES = ["/account", "/app"];

async function call(method, url, data) {
  const init = { method, credentials: "same-origin", headers: { Accept: "application/json" } };
  if (data !== undefined) {
    init.headers["Content-Type"] = "application/json";
    init.body = JSON.stringify(data);
  }
  let response;
  try {
    response = await fetch(url, init);
  } catch (_) {
    return { ok: false, status: 0, body: null };
  }
  let body = null;
  try {
    const text = await response.text();
    body = text ? JSON.parse(text) : null;
  } catch (_) {
    body = null;
  }
  return { ok: response.ok, status: response.status, body };
}

function codeOf(result) {
  const body = result.body;
  return body && typeof body.code === "string" ? body.code : "";
}

// An error in words: the form's or the known code's sentence, else the server's short message,
// else the status.
function describe(result, formId) {
  const code = codeOf(result);
  const forForm = FORM_MESSAGES[formId];
  if (forForm && forForm[code]) return forForm[code];
  if (MESSAGES[code]) return MESSAGES[code];
  if (result.status === 0) return "The server could not be reached. Check your connection and try again.";
  if (result.status === 429) return MESSAGES.TOO_MANY_REQUESTS;
  if (result.status >= 500) return "Something went wrong on our side. Try again in a moment.";
  const message = result.body && result.body.message;
  if (typeof message === "string" && message.length > 0 && message.length < 200) return message;
  return "The request could not be completed (error " + result.status + ").";
}

function goToSignIn() {
  window.location.assign("/sign-in?next=" + encodeURIComponent(window.location.pathname));
}

// On the signed-in pages a 401 means the session is gone: back to sign-in, then here again.
function signedOut(result) {
  if (result.status === 401 && SIGNED_IN_PAGES.includes(window.location.pathname)) {
    goToSignIn();
    return true;
  }
  return false;
}

function byId(id) {
  return document.getElementById(id);
}

function clearErrors(form) {
  const alert = byId(form.id + "-alert");
  if (alert) alert.textContent = "";
  const status = byId(form.id + "-status");
  if (status) status.textContent = "";
  for (const el of form.querySelectorAll("[aria-invalid]")) el.removeAttribute("aria-invalid");
  for (const el of form.querySelectorAll(".field-error")) el.textContent = "";
}

function showError(form, result) {
  const text = describe(result, form.id);
  byId(form.id + "-alert").textContent = text;
  for (const name of FIELDS[codeOf(result)] || []) {
    const input = form.elements.namedItem(name);
    if (input) {
      input.setAttribute("aria-invalid", "true");
      const fieldError = byId(input.id + "-error");
      if (fieldError) fieldError.textContent = text;
      input.focus();
      break;
    }
  }
}

function collect(form) {
  const data = {};
  for (const el of form.elements) {
    if (!el.name || el.disabled) continue;
    if (el.type === "checkbox") data[el.name] = el.checked;
    else if (el.type === "number") data[el.name] = Number(el.value);
    else data[el.name] = el.value;
  }
  return data;
}

async function submit(event) {
  const form = event.currentTarget;
  event.preventDefault();
  clearErrors(form);
  const button = form.querySelector("button[type=submit]");
  if (button) button.disabled = true;
  const result = await call("POST", form.dataset.api, collect(form));
  if (button) button.disabled = false;
  if (!result.ok) {
    if (!signedOut(result)) showError(form, result);
    return;
  }
  const status = byId(form.id + "-status");
  if (form.dataset.pending && result.body && result.body.token === null) {
    status.textContent = form.dataset.pending;
    form.reset();
  } else if (form.dataset.next) {
    window.location.assign(form.dataset.next);
  } else if (form.dataset.reload) {
    window.location.reload();
  } else {
    if (form.dataset.done) status.textContent = form.dataset.done;
    if (form.dataset.reset) form.reset();
    if (form.dataset.orders) loadOrders();
  }
}

async function postButton(event) {
  const button = event.currentTarget;
  button.disabled = true;
  const result = await call("POST", button.dataset.post, {});
  button.disabled = false;
  if (result.ok) {
    window.location.assign(button.dataset.next);
  } else if (!signedOut(result)) {
    byId("sessions-alert").textContent = describe(result);
  }
}

function when(iso) {
  const date = new Date(iso);
  return Number.isNaN(date.getTime()) ? String(iso) : date.toLocaleString();
}

function browserName(agent) {
  if (!agent) return "Unknown browser";
  for (const name of ["Edg", "Firefox", "Chrome", "Safari"]) {
    if (agent.includes(name + "/")) return name === "Edg" ? "Edge" : name;
  }
  return agent.slice(0, 60);
}

function element(tag, text, className) {
  const el = document.createElement(tag);
  if (text !== undefined) el.textContent = text;
  if (className) el.className = className;
  return el;
}

async function loadSessions() {
  const list = byId("sessions");
  const alert = byId("sessions-alert");
  const [current, all] = await Promise.all([
    call("GET", "/api/auth/get-session"),
    call("GET", "/api/auth/list-sessions"),
  ]);
  if (current.ok && current.body === null) return goToSignIn();
  list.textContent = "";
  if (!all.ok || !Array.isArray(all.body)) {
    if (!signedOut(all)) alert.textContent = describe(all);
    return;
  }
  const mine = current.ok && current.body && current.body.session ? current.body.session.token : null;
  for (const session of all.body) {
    const item = element("li");
    const label = browserName(session.userAgent) + " · " + (session.ipAddress || "unknown address") +
      " · signed in " + when(session.createdAt);
    item.append(element("span", label));
    if (session.token === mine) {
      item.append(element("span", "This device", "this-device"));
    } else {
      const revoke = element("button", "Revoke", "secondary");
      revoke.type = "button";
      revoke.setAttribute("aria-label", "Revoke the session: " + label);
      revoke.addEventListener("click", async () => {
        revoke.disabled = true;
        const result = await call("POST", "/api/auth/revoke-session", { token: session.token });
        if (result.ok) return loadSessions();
        revoke.disabled = false;
        if (!signedOut(result)) alert.textContent = describe(result);
      });
      item.append(revoke);
    }
    list.append(item);
  }
}

// "Continue with …": start the flow at edge, then follow the provider's URL it answers.
async function continueWith(event) {
  const button = event.currentTarget;
  button.disabled = true;
  const result = await call("POST", "/api/auth/sign-in/social", {
    provider: button.dataset.social,
    callbackURL: button.dataset.next,
    newUserCallbackURL: button.dataset.newUserNext,
    errorCallbackURL: button.dataset.error,
    disableRedirect: true,
  });
  button.disabled = false;
  if (result.ok && result.body && typeof result.body.url === "string") {
    window.location.assign(result.body.url);
  } else {
    byId("social-alert").textContent = describe(result);
  }
}

async function linkProvider(event) {
  const button = event.currentTarget;
  button.disabled = true;
  const result = await call("POST", "/api/auth/link-social", {
    provider: button.dataset.link,
    callbackURL: "/account",
    errorCallbackURL: "/account",
    disableRedirect: true,
  });
  button.disabled = false;
  if (result.ok && result.body && typeof result.body.url === "string") {
    window.location.assign(result.body.url);
  } else if (!signedOut(result)) {
    byId("accounts-alert").textContent = describe(result);
  }
}

async function loadAccounts() {
  const list = byId("accounts");
  const alert = byId("accounts-alert");
  const result = await call("GET", "/api/auth/list-accounts");
  list.textContent = "";
  if (!result.ok || !Array.isArray(result.body)) {
    if (!signedOut(result)) alert.textContent = describe(result);
    return;
  }
  const linked = new Set(result.body.map((account) => account.providerId));
  for (const button of document.querySelectorAll("button[data-link]")) {
    button.hidden = linked.has(button.dataset.link);
  }
  for (const account of result.body) {
    const item = element("li");
    if (account.providerId === "credential") {
      item.append(element("span", "Email and password"));
      list.append(item);
      continue;
    }
    const linkButton = document.querySelector('button[data-link="' + CSS.escape(account.providerId) + '"]');
    const name = linkButton ? linkButton.dataset.name : account.providerId;
    const label = name + " · linked " + when(account.createdAt);
    item.append(element("span", label));
    if (result.body.length === 1) {
      // The last way to sign in cannot be unlinked (identity refuses it): no button to press.
      item.append(element("span", " · your only way to sign in"));
      list.append(item);
      continue;
    }
    const unlink = element("button", "Unlink", "secondary");
    unlink.type = "button";
    unlink.setAttribute("aria-label", "Unlink " + name);
    unlink.addEventListener("click", async () => {
      unlink.disabled = true;
      const answer = await call("POST", "/api/auth/unlink-account", { accountId: account.id });
      if (answer.ok) return loadAccounts();
      unlink.disabled = false;
      if (!signedOut(answer)) alert.textContent = describe(answer);
    });
    item.append(unlink);
    list.append(item);
  }
}

let productNames = {};

function money(cents, currency) {
  try {
    return new Intl.NumberFormat(undefined, { style: "currency", currency }).format(cents / 100);
  } catch (_) {
    return (cents / 100).toFixed(2) + " " + currency;
  }
}

async function loadProfile() {
  const result = await call("GET", "/api/profile");
  if (!result.ok) {
    if (!signedOut(result)) byId("app-alert").textContent = describe(result);
    return;
  }
  const profile = byId("profile");
  profile.textContent = "";
  const facts = [
    ["Email", result.body.email],
    ["Email verified", result.body.email_verified ? "Yes" : "Not yet"],
    ["User id", result.body.user_id],
    ["Profile created", when(result.body.created_at)],
  ];
  for (const [name, value] of facts) {
    profile.append(element("dt", name), element("dd", String(value)));
  }
}

async function loadProducts() {
  const result = await call("GET", "/api/products");
  const list = byId("products");
  const select = byId("order-product_id");
  if (!result.ok) {
    if (!signedOut(result)) byId("app-alert").textContent = describe(result);
    return;
  }
  list.textContent = "";
  select.textContent = "";
  productNames = {};
  for (const product of result.body.products || []) {
    productNames[product.id] = product.name;
    const price = money(product.price_cents, product.currency);
    list.append(element("li", product.name + " — " + price));
    const option = element("option", product.name + " (" + price + ")");
    option.value = product.id;
    select.append(option);
  }
}

async function loadOrders() {
  const result = await call("GET", "/api/orders");
  const body = byId("orders");
  if (!result.ok) {
    if (!signedOut(result)) byId("app-alert").textContent = describe(result);
    return;
  }
  body.textContent = "";
  const orders = result.body.orders || [];
  if (orders.length === 0) {
    const row = element("tr");
    const cell = element("td", "No orders yet.");
    cell.colSpan = 5;
    row.append(cell);
    body.append(row);
  }
  for (const order of orders) {
    const row = element("tr");
    for (const text of [
      when(order.created_at),
      productNames[order.product_id] || order.product_id,
      String(order.quantity),
      (order.total_cents / 100).toFixed(2),
      order.status,
    ]) {
      row.append(element("td", text));
    }
    body.append(row);
  }
}

document.addEventListener("DOMContentLoaded", async () => {
  for (const form of document.querySelectorAll("form[data-api]")) form.addEventListener("submit", submit);
  for (const button of document.querySelectorAll("button[data-post]")) button.addEventListener("click", postButton);
  for (const button of document.querySelectorAll("button[data-social]")) button.addEventListener("click", continueWith);
  for (const button of document.querySelectorAll("button[data-link]")) button.addEventListener("click", linkProvider);
  if (byId("sessions")) loadSessions();
  if (byId("accounts")) loadAccounts();
  if (byId("profile") && byId("products")) {
    loadProfile();
    await loadProducts();
    loadOrders();
  }
});
