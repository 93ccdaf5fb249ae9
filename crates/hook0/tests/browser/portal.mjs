// The consumer portal walked as a sender's customer uses it, in headless Chromium: embedded in
// an iframe on the sender's page (served here, from another loopback port), by role and label,
// with the keyboard and without JavaScript, in both themes, with axe-core. Started by
// crates/hook0/tests/browser.rs, which runs `hook0 serve`, mints the sessions and passes:
// PORTAL_URL (every capability, framable by http://127.0.0.1:HOST_PORT), PORTAL_READONLY_URL
// (view only), PORTAL_EXPIRED_URL, HOST_PORT, STRANGER_PORT (an origin not allowed) and
// SCREENSHOT_DIR.
import { createServer } from "node:http";
import { mkdirSync } from "node:fs";
import { join } from "node:path";
import { chromium } from "playwright-core";
import AxeBuilder from "@axe-core/playwright";

const { PORTAL_URL, PORTAL_READONLY_URL, PORTAL_EXPIRED_URL, HOST_PORT, STRANGER_PORT } = process.env;
const shots = process.env.SCREENSHOT_DIR;
if (!PORTAL_URL || !PORTAL_READONLY_URL || !PORTAL_EXPIRED_URL || !HOST_PORT || !STRANGER_PORT || !shots) {
  throw new Error("PORTAL_URL, PORTAL_READONLY_URL, PORTAL_EXPIRED_URL, HOST_PORT, STRANGER_PORT and SCREENSHOT_DIR must be set");
}
mkdirSync(shots, { recursive: true });
const started = Date.now();

let steps = 0;
// The page being walked: on a failure, its screenshot and HTML say what the browser showed.
let current = null;
function check(condition, message) {
  if (!condition) throw new Error(`FAILED: ${message}`);
  steps += 1;
}

async function visible(locator, timeout = 5000) {
  return locator.first().waitFor({ state: "visible", timeout }).then(() => true, () => false);
}

async function accessible(page, name) {
  const results = await new AxeBuilder({ page }).analyze();
  const bad = results.violations.filter((v) => v.impact === "serious" || v.impact === "critical");
  check(
    bad.length === 0,
    `${name}: ${bad.map((v) => `${v.id} (${v.impact}): ${v.nodes.map((n) => n.target).join(" ")}`).join("; ")}`,
  );
}

// The sender's product page: it frames the portal and sizes the frame from its messages.
function hostPage(src) {
  return `<!doctype html><html lang="en"><head><meta charset="utf-8"><title>Shop · Settings</title></head>
<body style="font-family:sans-serif;margin:2rem"><h1>Shop settings</h1><p>Your webhooks, managed here:</p>
<iframe title="Webhooks" src="${src}" width="100%" height="150" style="border:1px solid #ccc"></iframe>
<script>
window.addEventListener("message", function (e) {
  if (e.data && e.data.type === "hook0-portal:height") {
    document.querySelector("iframe").height = String(e.data.height);
  }
});
</script></body></html>`;
}

function serve(port) {
  const server = createServer((_, res) => {
    res.writeHead(200, { "content-type": "text/html; charset=utf-8" });
    res.end(hostPage(PORTAL_URL));
  });
  return new Promise((resolve) => server.listen(Number(port), "127.0.0.1", () => resolve(server)));
}
const host = await serve(HOST_PORT);
const stranger = await serve(STRANGER_PORT);

const browser = await chromium.launch({
  executablePath: process.env.CHROMIUM || "/usr/bin/chromium",
  args: [
    "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
    "--disable-background-networking", "--disable-component-update", "--disable-sync",
  ],
});

try {
  // 1. Embedded on the sender's page: only this customer's endpoints, and a frame sized to fit.
  const context = await browser.newContext();
  const page = await context.newPage();
  current = page;
  await page.goto(`http://127.0.0.1:${HOST_PORT}/`);
  const frame = page.frameLocator('iframe[title="Webhooks"]');
  check(await visible(frame.getByRole("heading", { name: "Your endpoints" })), "the portal shows in the host page's iframe");
  check(await visible(frame.getByRole("link", { name: "Acme ledger" })), "the customer's own endpoint is listed");
  check((await frame.getByText("globex").count()) === 0, "another customer's endpoint is not");
  const sized = await page
    .waitForFunction(() => Number(document.querySelector("iframe").height) > 200, null, { timeout: 5000 })
    .then(() => true, () => false);
  check(sized, "the portal told its host its height (postMessage) and the frame grew");
  await page.screenshot({ path: join(shots, "portal-embedded.png"), fullPage: true });

  // 2. A test event from inside the frame, delivered, then its delivery in full.
  await frame.getByRole("link", { name: "Acme ledger" }).click();
  check(await visible(frame.getByRole("heading", { name: "Acme ledger" })), "the endpoint's page opens in the frame");
  await frame.getByLabel("Event type").selectOption("billing.invoice.paid");
  await frame.getByRole("button", { name: "Send a test event" }).click();
  check(await visible(frame.getByRole("status").filter({ hasText: "Test event sent" })), "the test send is confirmed");
  check(
    await visible(frame.getByRole("cell").getByText("successful", { exact: true }), 15000),
    "the delivery turns successful without a reload",
  );
  await frame.getByRole("link", { name: /^Delivery of/ }).first().click();
  check(await visible(frame.getByRole("heading", { name: "Your endpoint's answer" })), "the delivery's detail opens");
  check(await visible(frame.getByText('"sent_from": "hook0 portal"')), "the event sent is shown");
  await frame.getByRole("button", { name: "Resend" }).click();
  check(await visible(frame.getByRole("heading", { name: /^Delivery of/ })), "a resend opens the new delivery");
  await accessible(page, "portal embedded, delivery");

  // 3. Adding an endpoint with the keyboard alone.
  await frame.getByRole("link", { name: /^Webhooks ·/ }).click();
  await frame.getByRole("link", { name: "Add an endpoint" }).click();
  await frame.getByLabel("Endpoint URL").focus();
  await page.keyboard.type("https://acme.example/keyboard");
  await page.keyboard.press("Tab"); // method
  await page.keyboard.press("Tab"); // description
  await page.keyboard.type("Typed by keyboard");
  await page.keyboard.press("Tab"); // first event type
  await page.keyboard.press("Space");
  await page.keyboard.press("Tab"); // extra headers
  await page.keyboard.press("Tab"); // the submit button
  await page.keyboard.press("Enter");
  check(await visible(frame.getByRole("heading", { name: "Typed by keyboard" })), "an endpoint added by keyboard alone");
  await context.close();

  // 4. Both themes and axe on the portal's pages, opened on their own.
  for (const scheme of ["light", "dark"]) {
    const themed = await browser.newContext({ colorScheme: scheme });
    const p = await themed.newPage();
    current = p;
    await p.goto(PORTAL_URL);
    await accessible(p, `portal home (${scheme})`);
    await p.getByRole("link", { name: "Acme ledger" }).click();
    await p.getByRole("button", { name: "Reveal the signing secret" }).click();
    check(await visible(p.getByText("The HMAC key of the")), `the secret is revealed (${scheme})`);
    await accessible(p, `portal endpoint (${scheme})`);
    await p.screenshot({ path: join(shots, `portal-endpoint-${scheme}.png`), fullPage: true });
    await p.getByRole("link", { name: "Edit" }).click();
    await accessible(p, `portal form (${scheme})`);
    await themed.close();
  }

  // 5. Without JavaScript: the forms still work.
  const plain = await browser.newContext({ javaScriptEnabled: false });
  const noScript = await plain.newPage();
  current = noScript;
  await noScript.goto(PORTAL_URL);
  await noScript.getByRole("link", { name: "Add an endpoint" }).click();
  await noScript.getByLabel("Endpoint URL").fill("https://acme.example/no-js");
  await noScript.getByLabel("Description (optional)").fill("Without script");
  await noScript.getByLabel("billing.invoice.paid").check();
  await noScript.getByRole("button", { name: "Add the endpoint" }).click();
  check(await visible(noScript.getByRole("heading", { name: "Without script" })), "an endpoint added without JavaScript");
  await noScript.getByRole("button", { name: "Disable" }).click();
  check(await visible(noScript.getByRole("status").filter({ hasText: "Endpoint disabled" })), "disabled without JavaScript");
  await plain.close();

  // 6. A read-only session: no control that changes anything.
  const reader = await browser.newContext();
  const ro = await reader.newPage();
  current = ro;
  await ro.goto(PORTAL_READONLY_URL);
  check(await visible(ro.getByRole("heading", { name: "Your endpoints" })), "a read-only session opens");
  check((await ro.getByRole("link", { name: "Add an endpoint" }).count()) === 0, "no Add for a read-only session");
  await ro.getByRole("link", { name: "Acme ledger" }).click();
  for (const name of ["Delete", "Disable", "Send a test event", "Reveal the signing secret", "Rotate the secret"]) {
    check((await ro.getByRole("button", { name }).count()) === 0, `no ${name} for a read-only session`);
  }
  check(await visible(ro.getByRole("heading", { name: "Deliveries" })), "deliveries are readable");

  // 7. An expired session says so.
  await ro.goto(PORTAL_EXPIRED_URL);
  check(await visible(ro.getByRole("heading", { name: "This link has expired" })), "an expired link says so");
  await accessible(ro, "portal expired");
  await ro.screenshot({ path: join(shots, "portal-expired.png"), fullPage: true });
  await reader.close();

  // 8. Framed by an origin the session does not allow: the browser refuses to show it.
  const elsewhere = await browser.newContext();
  const sp = await elsewhere.newPage();
  await sp.goto(`http://127.0.0.1:${STRANGER_PORT}/`);
  // `load` waits for the frame too, refused or not.
  await sp.waitForLoadState("load");
  const child = sp.frames().find((f) => f !== sp.mainFrame());
  let shown = "";
  try {
    shown = child ? await child.content() : "";
  } catch {
    shown = "";
  }
  check(!shown.includes("Your endpoints"), "a page on an origin not allowed cannot frame the portal");
  await sp.screenshot({ path: join(shots, "portal-framing-refused.png"), fullPage: true });
  await elsewhere.close();
} catch (error) {
  if (current) {
    await current.screenshot({ path: join(shots, "portal-failure.png"), fullPage: true }).catch(() => {});
    for (const f of current.frames()) {
      console.error(`--- ${f.url()}\n${(await f.content().catch(() => "")).slice(0, 4000)}`);
    }
  }
  throw error;
} finally {
  await browser.close();
  host.close();
  stranger.close();
}
console.log(`portal suite: ${steps} checks passed in ${((Date.now() - started) / 1000).toFixed(1)} s; screenshots in ${shots}`);
