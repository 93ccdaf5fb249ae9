// The dashboard walked as a person uses it, in headless Chromium (Debian's /usr/bin/chromium,
// driven by playwright-core): by role and label, with the keyboard, without JavaScript, in both
// themes, with axe-core on every page. Started by crates/hook0/tests/browser.rs with
// HOOK0_URL (a fresh `hook0 serve`) and SCREENSHOT_DIR.
import { execFileSync } from "node:child_process";
import { createHmac } from "node:crypto";
import { createServer } from "node:http";
import { mkdirSync } from "node:fs";
import { join } from "node:path";
import { chromium } from "playwright-core";
import AxeBuilder from "@axe-core/playwright";

const base = process.env.HOOK0_URL;
const receiver = process.env.RECEIVER_URL;
const hook0 = process.env.HOOK0_BIN;
const dataDir = process.env.HOOK0_DATA_DIR;
const shots = process.env.SCREENSHOT_DIR;
if (!base || !shots || !receiver) throw new Error("HOOK0_URL, RECEIVER_URL and SCREENSHOT_DIR must be set");
mkdirSync(shots, { recursive: true });

const PASSWORD = "correct-zebra-staple-42";
let steps = 0;
function check(condition, message) {
  if (!condition) throw new Error(`FAILED: ${message}`);
  steps += 1;
}

const browser = await chromium.launch({
  executablePath: process.env.CHROMIUM || "/usr/bin/chromium",
  args: [
    "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
    "--disable-background-networking", "--disable-component-update", "--disable-sync",
  ],
});

/** Whether `locator` becomes visible within a few seconds (pages load after a submit). */
async function visible(locator) {
  return locator.first().waitFor({ state: "visible", timeout: 5000 }).then(() => true, () => false);
}

/** Whether `locator` is gone within a few seconds. */
async function gone(locator) {
  return locator.first().waitFor({ state: "detached", timeout: 5000 }).then(() => true, () => false);
}

/** Axe on the current page: no serious or critical violation. */
async function accessible(page, name) {
  const results = await new AxeBuilder({ page }).analyze();
  const bad = results.violations.filter((v) => v.impact === "serious" || v.impact === "critical");
  check(
    bad.length === 0,
    `${name}: ${bad.map((v) => `${v.id} (${v.impact}): ${v.nodes.map((n) => n.target).join(" ")}`).join("; ")}`,
  );
}

/** Axe and a screenshot of `path`, light and dark. */
async function review(context, path, name) {
  for (const scheme of ["light", "dark"]) {
    const page = await context.newPage();
    await page.emulateMedia({ colorScheme: scheme });
    await page.goto(base + path);
    await accessible(page, `${name} (${scheme})`);
    await page.screenshot({ path: join(shots, `${name}-${scheme}.png`), fullPage: true });
    await page.close();
  }
}

// A second receiver, in this process: it keeps each delivery's headers and body, so the suite
// can verify signatures as a customer's endpoint would.
const signed = [];
const sink = createServer((req, res) => {
  const chunks = [];
  req.on("data", (c) => chunks.push(c));
  req.on("end", () => { signed.push({ headers: req.headers, body: Buffer.concat(chunks).toString() }); res.end("ok"); });
});
await new Promise((resolve) => sink.listen(0, "127.0.0.1", resolve));
const sinkUrl = `http://127.0.0.1:${sink.address().port}/signed`;

/** The Standard Webhooks signature of a delivery with `secret` (`whsec_<base64>`). */
function standardSignature(secret, { headers, body }) {
  const key = Buffer.from(secret.replace(/^whsec_/, ""), "base64");
  const content = `${headers["webhook-id"]}.${headers["webhook-timestamp"]}.${body}`;
  return createHmac("sha256", key).update(content).digest("base64");
}

const started = Date.now();
try {
  // 1. Sign up: the first account of an instance without mail is signed in at once.
  const context = await browser.newContext();
  const page = await context.newPage();
  const dialogs = [];
  // Confirmations are accepted; any other dialog (an injected alert) is recorded.
  page.on("dialog", (d) => {
    if (d.type() === "confirm") { d.accept(); } else { dialogs.push(d.message()); d.dismiss(); }
  });
  await page.goto(base + "/");
  check(page.url().endsWith("/login"), `/ leads to the login page, got ${page.url()}`);
  await review(context, "/login", "login");
  await review(context, "/register", "register");
  await page.getByRole("link", { name: "Create an account" }).click();
  await page.getByLabel("First name").fill("Ada");
  await page.getByLabel("Last name").fill("Lovelace");
  await page.getByLabel("Email").fill("ada@example.com");
  await page.getByLabel("Password", { exact: true }).fill(PASSWORD);
  await page.getByRole("button", { name: "Create my account" }).click();
  await page.waitForURL("**/organizations");
  check(await visible(page.getByRole("heading", { name: "Organizations" })), "the organizations page after sign-up");
  await review(context, "/organizations", "organizations");
  await review(context, "/settings", "settings");
  await review(context, "/begin-reset-password", "begin-reset-password");

  // 2. The personal organization's dashboard; an application created by keyboard alone.
  await page.getByRole("link", { name: "Ada Lovelace's personal organization" }).click();
  await page.waitForURL("**/dashboard");
  check(await page.getByRole("heading", { level: 1 }).innerText().then((t) => t.includes("personal organization")), "organization heading");
  check(await visible(page.getByText("Events per day, last 30 days (0 in all)")), "an empty chart says so");
  await page.getByLabel("Application name").focus();
  await page.keyboard.type("Billing");
  await page.keyboard.press("Enter");
  await page.waitForURL("**/applications/*/dashboard");
  check(await visible(page.getByRole("heading", { name: "Billing", level: 1 })), "the new application's dashboard");
  check(await visible(page.getByText("Create an event type")), "the first step is shown");
  const appPath = new URL(page.url()).pathname;
  const appBase = appPath.replace(/\/dashboard$/, "");
  const orgPath = appPath.replace(/\/applications\/.*$/, "/dashboard");
  await review(context, orgPath, "organization");
  await review(context, appPath, "application");

  // 3. First delivery: an event type, a subscription to a loopback receiver, a test event.
  await page.getByRole("navigation", { name: "Application" }).getByRole("link", { name: "Event types" }).click();
  await page.getByLabel("Service").fill("billing");
  await page.getByLabel("Resource type").fill("invoice");
  await page.getByLabel("Verb").fill("paid");
  await page.getByRole("button", { name: "Create event type" }).click();
  check(await visible(page.getByRole("cell", { name: "billing.invoice.paid", exact: true })), "the new event type is listed");
  await review(context, appBase + "/event_types", "event-types");
  await page.getByRole("link", { name: "Subscriptions" }).click();
  await page.getByLabel("Endpoint URL").fill(receiver);
  await page.getByRole("checkbox", { name: "billing.invoice.paid" }).check();
  await page.getByLabel("Labels").fill("tenant=test");
  await page.getByLabel("Headers").fill("X-Team: billing");
  await page.getByLabel("Description").fill("To the ledger <b>");
  await page.getByRole("button", { name: "Create subscription" }).click();
  await page.waitForURL("**/subscriptions/*");
  check(await visible(page.getByText("To the ledger <b>")), "the subscription page shows its description as text");
  check(await visible(page.getByRole("button", { name: "Disable" })), "a new subscription is enabled");
  const subPath = new URL(page.url()).pathname;
  await review(context, appBase + "/subscriptions", "subscriptions");
  await review(context, subPath, "subscription");
  await page.getByRole("link", { name: "Send a test event" }).click();
  await page.getByLabel("Payload (JSON)").fill("{ not json");
  await page.getByRole("button", { name: "Send event" }).click();
  check(await page.getByRole("alert").innerText().then((t) => t.includes("not valid JSON")), "a bad payload is told before sending");
  await page.getByLabel("Payload (JSON)").fill('{"invoice": 42}');
  await page.getByRole("button", { name: "Send event" }).click();
  check(await page.getByRole("status").innerText().then((t) => t.includes("goes to 1 subscription")), "the event goes to the subscription");
  check(await visible(page.getByText("curl -X POST")), "the equivalent curl is shown");
  await page.goto(base + appPath);
  check(await visible(page.getByText("1 event(s) received today")), "today's count on the dashboard");
  check(await visible(page.getByText(/Deliveries per day, last 30 days: \d+ succeeded/)), "the deliveries chart");
  // The event, its payload and its delivery, seen from the pages.
  await page.getByRole("link", { name: "Events" }).click();
  await page.getByRole("cell").getByRole("link").first().click();
  check(await page.getByLabel("Payload").innerText().then((t) => t.includes('"invoice": 42')), "the JSON payload is shown indented");
  const eventPath = new URL(page.url()).pathname;
  // The endpoint answers after 3 s: the attempt is still under way when the page opens, and
  // turns successful in place, without a reload.
  check(!(await page.getByText("successful", { exact: true }).isVisible()), "the attempt is under way at first");
  await page.evaluate(() => { window.__sameDocument = true; });
  const delivered = await page.getByText("successful", { exact: true })
    .waitFor({ timeout: 20000 }).then(() => true, () => false);
  check(delivered, "the attempt turns successful");
  check(await page.evaluate(() => window.__sameDocument === true), "without a reload");
  await page.getByRole("link", { name: /^Attempt / }).first().click();
  check(await visible(page.getByRole("heading", { name: "Response" })), "the attempt shows its response");
  check(await visible(page.getByText("HTTP status")), "with its HTTP status");
  check(await visible(page.getByRole("heading", { name: "Request" })), "the attempt tells the request it sent");
  check(await visible(page.getByText("X-Team: billing")), "with the subscription's headers");
  const attemptPath = new URL(page.url()).pathname;
  await review(context, appBase + "/events", "events");
  await review(context, eventPath, "event");
  await review(context, attemptPath, "attempt");
  // The delivery log, filtered; the filter survives a reload.
  await page.getByRole("link", { name: "Delivery log" }).click();
  await page.getByLabel("Status").selectOption("successful");
  await page.getByRole("button", { name: "Filter" }).click();
  await page.waitForURL("**/logs?status=successful**");
  await page.waitForLoadState("load");
  check(page.url().includes("status=successful"), "the filter is in the URL");
  await page.reload({ waitUntil: "load" });
  check(await page.getByLabel("Status").inputValue() === "successful", "the filter survives a reload");
  check(await page.getByRole("link", { name: /^Attempt / }).count() === 1, "one successful attempt");
  await page.getByLabel("Status").selectOption("failed");
  await page.getByRole("button", { name: "Filter" }).click();
  await page.waitForURL("**/logs?status=failed**");
  check(await visible(page.getByText("No delivery attempt.")), "no failed attempt");
  await review(context, appBase + "/logs", "logs");
  await review(context, appBase + "/activity", "activity");
  await review(context, appBase + "/send", "send");
  await review(context, appBase + "/settings", "application-settings");
  await review(context, subPath + "/edit", "subscription-edit");
  // Replay (confirmed) queues a new attempt.
  await page.goto(base + eventPath);
  await page.getByRole("button", { name: "Replay" }).click();
  check(await page.getByRole("status").innerText().then((t) => t.includes("Replayed")), "replayed");
  // Disable (a confirmation first), then enable again.
  await page.goto(base + subPath);
  await page.getByRole("button", { name: "Disable" }).click();
  await page.waitForSelector("text=disabled");
  check(await visible(page.getByRole("button", { name: "Enable" })), "disabled after confirming");
  await page.getByRole("button", { name: "Enable" }).click();
  check(await visible(page.getByRole("button", { name: "Disable" })), "enabled again");

  // Secret rotation: during the overlap both secrets sign, and the receiver verifies each.
  await page.goto(base + appBase + "/subscriptions");
  await page.getByLabel("Endpoint URL").fill(sinkUrl);
  await page.getByRole("checkbox", { name: "billing.invoice.paid" }).check();
  await page.getByLabel("Labels").fill("tenant=rotation");
  await page.getByLabel("Description").fill("Signed endpoint");
  await page.getByRole("button", { name: "Create subscription" }).click();
  await page.waitForURL("**/subscriptions/*");
  const signedPath = new URL(page.url()).pathname;
  await page.getByRole("button", { name: "Sign with Standard Webhooks too" }).click();
  check(await visible(page.getByRole("button", { name: "Rotate the secret" })), "Standard Webhooks signing is on");
  await page.getByRole("button", { name: "Rotate the secret" }).click();
  check(await visible(page.getByText(/Previous secret, signing until/)), "both secrets are listed during the overlap");
  const secretOf = (summary) => page.getByRole("listitem").filter({ hasText: summary }).locator("code").textContent();
  const secrets = [await secretOf("Current secret"), await secretOf("Previous secret")].map((t) => t.trim());
  check(secrets.every((t) => t.startsWith("whsec_")) && secrets[0] !== secrets[1], `two distinct secrets: ${secrets.map((t) => t.slice(0, 10))}`);
  await review(context, signedPath, "subscription-rotation");
  await page.goto(base + appBase + "/send");
  await page.getByLabel("Labels").fill("tenant=rotation");
  await page.getByRole("button", { name: "Send event" }).click();
  for (let i = 0; i < 100 && signed.length === 0; i += 1) { await page.waitForTimeout(100); }
  check(signed.length === 1, `the signed endpoint got the event (${signed.length})`);
  const sent = (signed[0].headers["webhook-signature"] || "").split(" ").map((s) => s.replace(/^v1,/, ""));
  check(sent.length === 2, `two signatures during the overlap: ${signed[0].headers["webhook-signature"]}`);
  for (const [which, secret] of [["new", secrets[0]], ["previous", secrets[1]]]) {
    check(sent.includes(standardSignature(secret, signed[0])), `the receiver verifies the ${which} secret's signature`);
  }

  // A failing endpoint: its attempt becomes a dead letter (the server runs with MAX_RETRIES=0),
  // redelivered in bulk after a page that says how many.
  await page.goto(base + appBase + "/subscriptions");
  await page.getByLabel("Endpoint URL").fill("http://127.0.0.1:9/closed");
  await page.getByRole("checkbox", { name: "billing.invoice.paid" }).check();
  await page.getByLabel("Labels").fill("tenant=broken");
  await page.getByLabel("Description").fill("Broken endpoint");
  await page.getByRole("button", { name: "Create subscription" }).click();
  await page.waitForURL("**/subscriptions/*");
  const brokenPath = new URL(page.url()).pathname;
  await page.goto(base + appBase + "/send");
  await page.getByLabel("Labels").fill("tenant=broken");
  await page.getByRole("button", { name: "Send event" }).click();
  let dead = false;
  for (let i = 0; i < 40 && !dead; i += 1) {
    await page.goto(base + brokenPath);
    dead = await page.getByRole("link", { name: "Redeliver them" }).isVisible();
    if (!dead) { await page.waitForTimeout(250); }
  }
  check(dead, "the failed attempt is a dead letter");
  await page.getByRole("link", { name: "Redeliver them" }).click();
  check(await visible(page.getByText("1 attempt(s) to")), "the count is shown before redelivering");
  await review(context, new URL(page.url()).pathname, "redeliver");
  await page.getByRole("button", { name: /^Redeliver 1/ }).click();
  check(await page.getByRole("status").innerText().then((t) => t.includes("1 attempt(s) queued")), "redelivered");

  // The charts match what was sent: three events today, deliveries that succeeded and one that failed.
  await page.goto(base + appPath);
  check(await visible(page.getByText("Events per day, last 30 days (3 in all)")), "the events chart counts the three events sent");
  const deliveries = await page.getByText(/Deliveries per day, last 30 days:/).first().innerText();
  const [, okCount, failedCount] = deliveries.match(/(\d+) succeeded, (\d+) failed/) || [];
  check(Number(okCount) >= 1 && Number(failedCount) >= 1, `the deliveries chart counts successes and failures: ${deliveries}`);
  await page.goto(base + orgPath);
  const orgDeliveries = await page.getByText(/Deliveries per day, last 30 days:/).first().innerText();
  check(/[1-9]\d* succeeded/.test(orgDeliveries), `the organization's chart sums its applications: ${orgDeliveries}`);
  await page.goto(base + appPath);
  await page.getByRole("link", { name: "Send a first event" }).click();
  check(await visible(page.getByRole("heading", { name: "Send a test event" })), "each getting-started step links to where it is done");

  // Ordered delivery: a key whose delivery became a dead letter is held (the next event of the
  // key waits), shown on the subscription's page with a Redeliver button.
  await page.goto(base + appBase + "/subscriptions");
  await page.getByLabel("Endpoint URL").fill("http://127.0.0.1:9/closed");
  await page.getByRole("checkbox", { name: "billing.invoice.paid" }).check();
  await page.getByLabel("Labels").fill("tenant=ordered");
  await page.getByLabel("Description").fill("Ordered endpoint");
  await page.getByLabel("Ordering label").fill("invoice_id");
  check(await page.getByLabel("When a key's delivery fails for good").inputValue() === "hold", "holding a key is the default");
  await page.getByRole("button", { name: "Create subscription" }).click();
  await page.waitForURL("**/subscriptions/*");
  const orderedPath = new URL(page.url()).pathname;
  check(await visible(page.getByText("one at a time per value of")), "the page tells the ordering");
  for (let n = 0; n < 2; n += 1) {
    await page.goto(base + appBase + "/send");
    await page.getByLabel("Labels").fill("tenant=ordered\ninvoice_id=in_<1>");
    await page.getByRole("button", { name: "Send event" }).click();
    await page.getByRole("status").waitFor();
  }
  let held = false;
  for (let i = 0; i < 40 && !held; i += 1) {
    await page.goto(base + orderedPath);
    held = await page.getByRole("button", { name: "Redeliver the dead letter holding in_<1>" }).isVisible();
    if (!held) { await page.waitForTimeout(250); }
  }
  check(held, "the held key is listed with a Redeliver button");
  const keyRow = page.getByRole("row").filter({ hasText: "in_<1>" });
  check(await keyRow.getByRole("cell").nth(2).innerText() === "1", "one event of the key waits behind the dead letter");
  await review(context, orderedPath, "subscription-ordered");
  await page.getByRole("button", { name: "Redeliver the dead letter holding in_<1>" }).click();
  await page.waitForURL("**/logs/*");
  check(await visible(page.getByRole("heading", { name: "Delivery attempt" })), "the redelivery's attempt page opens");

  // API keys: created (shown at once), then deleted after a confirm.
  await page.goto(base + appBase + "/application_secrets");
  await page.getByLabel("Name", { exact: true }).fill("ci");
  await page.getByRole("button", { name: "Create API key" }).click();
  check(await page.getByRole("status").innerText().then((t) => /[0-9a-f-]{36}/.test(t)), "the new API key is shown");
  await review(context, appBase + "/application_secrets", "api-keys");
  await page.getByRole("button", { name: "Delete the API key ci" }).click();
  check(await gone(page.getByRole("button", { name: "Delete the API key ci" })), "the key is deleted");

  // Customer portal: a link minted on the page (shown once), opened, then revoked.
  await page.goto(base + appBase + "/portal_sessions");
  await page.getByLabel("The customer's labels").fill("tenant=acme");
  await page.getByLabel("Send test events").check();
  await page.getByRole("button", { name: "Create portal link" }).click();
  const portalUrl = await page.locator("#portal-url").innerText();
  check(portalUrl.includes("/portal/h0portal_"), "the portal link is shown once");
  await review(context, appBase + "/portal_sessions", "portal-links");
  const customer = await context.newPage();
  await customer.goto(portalUrl);
  check(await visible(customer.getByRole("heading", { name: "Your endpoints" })), "the minted link opens the portal");
  await customer.close();
  await page.getByRole("button", { name: "Revoke the link of tenant=acme" }).click();
  check(await gone(page.getByRole("button", { name: "Revoke the link of tenant=acme" })), "the link is revoked");

  // Service tokens: created (shown once), then restricted to one application on the page;
  // the restricted token works there and is refused elsewhere.
  const orgId = orgPath.split("/")[2];
  await page.goto(base + `/organizations/${orgId}/service_tokens`);
  await page.getByLabel("Name", { exact: true }).fill("deploys");
  await page.getByRole("button", { name: "Create service token" }).click();
  await page.waitForSelector("#shown-token");
  const root = (await page.locator("#shown-token").innerText()).trim();
  check(root.length > 100, "the new service token is shown");
  await page.getByLabel("Token to restrict").fill(root);
  await page.getByLabel("Application", { exact: true }).selectOption({ label: "Billing" });
  await page.getByRole("button", { name: "Restrict the token" }).click();
  await page.waitForSelector("text=The restricted token");
  const restricted = (await page.locator("#shown-token").innerText()).trim();
  check(restricted !== root && restricted.length > root.length, "a restricted token is shown");
  await review(context, `/organizations/${orgId}/service_tokens`, "service-tokens");
  await review(context, `/organizations/${orgId}/settings`, "organization-settings");
  const billingId = appBase.split("/").pop();
  const other = await fetch(`${base}/api/v1/applications`, {
    method: "POST",
    headers: { Authorization: `Bearer ${root}`, "Content-Type": "application/json" },
    body: JSON.stringify({ organization_id: orgId, name: "Other" }),
  }).then((r) => r.json());
  const asRestricted = (app) => fetch(`${base}/api/v1/event_types?application_id=${app}`, {
    headers: { Authorization: `Bearer ${restricted}` },
  }).then((r) => r.status);
  check(await asRestricted(billingId) === 200, "the restricted token works on its application");
  check(await asRestricted(other.application_id) === 403, "and is refused on another");

  // Pagination of the delivery log: 55 more events through the API, then an older page that
  // survives a reload.
  for (let i = 0; i < 55; i += 1) {
    const sent = await fetch(`${base}/api/v1/event`, {
      method: "POST",
      headers: { Authorization: `Bearer ${root}`, "Content-Type": "application/json" },
      body: JSON.stringify({ application_id: billingId, event_type: "billing.invoice.paid", payload: `{"n":${i}}`,
        payload_content_type: "application/json", labels: { tenant: "broken" }, occurred_at: new Date().toISOString() }),
    });
    if (sent.status !== 201) throw new Error(`ingest answered ${sent.status}`);
  }
  await page.goto(base + appBase + "/logs");
  check(await page.getByRole("link", { name: /^Attempt / }).count() === 50, "a page holds 50 attempts");
  const newest = await page.getByRole("link", { name: /^Attempt / }).first().getAttribute("aria-label");
  const olderHref = await page.getByRole("link", { name: "Older attempts" }).getAttribute("href");
  check(olderHref.includes("cursor="), `the older page's link carries the cursor: ${olderHref}`);
  await page.getByRole("link", { name: "Older attempts" }).click();
  await page.waitForLoadState("load");
  await page.waitForFunction(() => window.location.search.includes("cursor="));
  const olderUrl = page.url();
  await page.reload({ waitUntil: "load" });
  check(page.url() === olderUrl, "the older page's URL survives a reload");
  const older = await page.getByRole("link", { name: /^Attempt / }).first().getAttribute("aria-label");
  check(older !== newest && (await page.getByRole("link", { name: /^Attempt / }).count()) > 0, "the older page shows older attempts");

  // A second person signs up (verified by an administrator), is invited as a viewer, and sees
  // every page without a control that changes anything.
  const second = await browser.newContext();
  const vic = await second.newPage();
  await vic.goto(base + "/register");
  await vic.getByLabel("First name").fill("Vic");
  await vic.getByLabel("Last name").fill("Viewer");
  await vic.getByLabel("Email").fill("vic@example.com");
  await vic.getByLabel("Password", { exact: true }).fill(PASSWORD);
  await vic.getByRole("button", { name: "Create my account" }).click();
  check(await vic.getByRole("status").innerText().then((t) => t.includes("Confirm your email")), "a second account waits for verification");
  execFileSync(hook0, ["user", "verify", "vic@example.com"], { env: { ...process.env, HOOK0_DATA_DIR: dataDir } });
  await page.goto(base + orgPath.replace("/dashboard", "/members"));
  await page.getByLabel("Email").fill("vic@example.com");
  await page.getByLabel("Role", { exact: true }).selectOption("viewer");
  await page.getByRole("button", { name: "Invite" }).click();
  check(await visible(page.getByRole("cell", { name: "vic@example.com", exact: true })), "Vic is a member");
  await review(context, orgPath.replace("/dashboard", "/members"), "members");
  await vic.getByLabel("Email").fill("vic@example.com");
  await vic.getByLabel("Password").fill(PASSWORD);
  await vic.getByRole("button", { name: "Log in" }).click();
  await vic.waitForURL("**/organizations");
  for (const path of [orgPath, `/organizations/${orgId}/service_tokens`, `/organizations/${orgId}/settings`, appPath, appBase + "/event_types", appBase + "/subscriptions", subPath, appBase + "/send", appBase + "/application_secrets", appBase + "/settings", appBase + "/activity", orgPath.replace("/dashboard", "/members"), eventPath]) {
    await vic.goto(base + path);
    const buttons = await vic.getByRole("button").allInnerTexts();
    const mutating = buttons.filter((b) => !["Log out", "Dark theme", "Filter"].includes(b.trim()));
    check(mutating.length === 0, `a viewer sees no mutating control on ${path}: ${mutating.join(", ")}`);
    check((await vic.locator("select, input:not([type=hidden]), textarea").count()) === 0 || path.endsWith("/logs"), `no form field for a viewer on ${path}`);
  }
  await second.close();

  // 4. What users type is shown, never run.
  await page.goto(base + "/organizations");
  await page.getByLabel("Name", { exact: true }).fill(`<script>alert("x")</script> & "quotes"`);
  await page.getByRole("button", { name: "Create organization" }).click();
  await page.waitForURL("**/dashboard");
  const hostile = await page.getByRole("heading", { level: 1 }).innerText();
  check(hostile.includes(`<script>alert("x")</script> & "quotes"`), `a hostile name is shown as text, got ${JSON.stringify(hostile)}`);
  check(dialogs.length === 0, "no script ran");

  // A refused form shows the API's problem.
  await page.getByLabel("Application name").fill("   ");
  await page.getByRole("button", { name: "Create application" }).click();
  check(await visible(page.getByRole("alert")), "a refused name shows a problem");
  // With two organizations, each page offers the other.
  await page.getByText("Switch organization").click();
  await page.getByRole("link", { name: "Ada Lovelace's personal organization" }).click();
  await page.waitForURL(base + orgPath);
  check(await visible(page.getByRole("heading", { name: /personal organization/, level: 1 })), "the switcher leads to the other organization");
  await page.goto(base + appPath);
  await page.getByText("Switch organization").click();
  check(await visible(page.getByRole("link", { name: `<script>alert("x")</script> & "quotes"` })), "an application's page offers the other organization too");

  // 4. The theme toggle (JavaScript) and the system theme (CSS) agree.
  await page.emulateMedia({ colorScheme: "light" });
  await page.getByRole("button", { name: "Dark theme" }).click();
  check(await page.evaluate(() => document.documentElement.dataset.theme) === "dark", "the toggle switches to dark");
  check(await page.getByRole("button", { name: "Dark theme" }).getAttribute("aria-pressed") === "true", "the toggle says it is pressed");

  // 5. Log out; a wrong password is told; the right one signs in again.
  await page.getByRole("button", { name: "Log out" }).click();
  await page.waitForURL("**/login");
  await page.getByLabel("Email").fill("ada@example.com");
  await page.getByLabel("Password").fill("not-the-password");
  await page.getByRole("button", { name: "Log in" }).click();
  check(await page.getByRole("alert").innerText().then((t) => t.includes("Login failed")), "a wrong password is told");
  check(await page.getByLabel("Email").inputValue() === "ada@example.com", "the email is kept");
  await page.getByLabel("Password").fill(PASSWORD);
  await page.getByRole("button", { name: "Log in" }).click();
  await page.waitForURL("**/organizations");
  await context.close();

  // 6. Without JavaScript: log in, create an application, see it.
  const noScript = await browser.newContext({ javaScriptEnabled: false });
  const plain = await noScript.newPage();
  await plain.goto(base + "/login");
  check(await plain.getByRole("button", { name: "Dark theme" }).isHidden(), "no dead theme button without JavaScript");
  await plain.getByLabel("Email").fill("ada@example.com");
  await plain.getByLabel("Password").fill(PASSWORD);
  await plain.getByRole("button", { name: "Log in" }).click();
  await plain.waitForURL("**/organizations");
  await plain.getByRole("link", { name: "Ada Lovelace's personal organization" }).click();
  await plain.getByLabel("Application name").fill("Shipping");
  await plain.getByRole("button", { name: "Create application" }).click();
  await plain.waitForURL("**/applications/*/dashboard");
  check(await visible(plain.getByRole("heading", { name: "Shipping", level: 1 })), "created without JavaScript");
  await noScript.close();

  // 7. Signed out, pages lead to the login page.
  const anonymous = await browser.newContext();
  const stranger = await anonymous.newPage();
  await stranger.goto(base + orgPath);
  check(stranger.url().endsWith("/login"), "a signed-out visit goes to the login page");
  await anonymous.close();
} finally {
  await browser.close();
  sink.close();
}
console.log(`browser suite: ${steps} checks passed in ${((Date.now() - started) / 1000).toFixed(1)} s; screenshots in ${shots}`);
