// The mailed links, walked in headless Chromium against a `hook0 serve` that sends mail to an
// SMTP sink run here (SMTP_PORT): sign-up, the verification link, a forgotten password, the
// reset link (which works once). Started by crates/hook0/tests/browser.rs with HOOK0_URL.
import net from "node:net";
import { chromium } from "playwright-core";

const base = process.env.HOOK0_URL;
const smtpPort = Number(process.env.SMTP_PORT);
if (!base || !smtpPort) throw new Error("HOOK0_URL and SMTP_PORT must be set");

let steps = 0;
function check(condition, message) {
  if (!condition) throw new Error(`FAILED: ${message}`);
  steps += 1;
}

// A minimal SMTP sink: accepts every mail and keeps its recipients and data.
const mails = [];
const sink = net.createServer((socket) => {
  let buffer = "";
  let inData = false;
  let data = "";
  let to = [];
  const say = (line) => socket.write(`${line}\r\n`);
  say("220 sink ESMTP");
  socket.on("data", (chunk) => {
    buffer += chunk.toString("utf8");
    let end;
    while ((end = buffer.indexOf("\r\n")) >= 0) {
      const line = buffer.slice(0, end);
      buffer = buffer.slice(end + 2);
      if (inData) {
        if (line === ".") {
          inData = false;
          mails.push({ to, data });
          to = [];
          data = "";
          say("250 OK queued");
        } else {
          data += (line.startsWith(".") ? line.slice(1) : line) + "\r\n";
        }
        continue;
      }
      const command = line.toUpperCase();
      if (command.startsWith("EHLO")) say("250-sink\r\n250 8BITMIME");
      else if (command.startsWith("MAIL FROM") || command.startsWith("RSET")) { to = []; say("250 OK"); }
      else if (command.startsWith("RCPT TO")) { to.push(line.slice(8).trim().replace(/^<|>$/g, "").toLowerCase()); say("250 OK"); }
      else if (command === "DATA") { inData = true; say("354 End data with <CR><LF>.<CR><LF>"); }
      else if (command.startsWith("QUIT")) { say("221 bye"); socket.end(); }
      else say("250 OK");
    }
  });
  socket.on("error", () => {});
});
await new Promise((resolve) => sink.listen(smtpPort, "127.0.0.1", resolve));

/** The body of a mail, decoded from its transfer encoding. */
function body(mail) {
  const split = mail.data.indexOf("\r\n\r\n");
  const headers = mail.data.slice(0, split).toLowerCase();
  const raw = mail.data.slice(split + 4);
  if (headers.includes("content-transfer-encoding: base64")) {
    return Buffer.from(raw.replace(/\s+/g, ""), "base64").toString("utf8");
  }
  if (headers.includes("content-transfer-encoding: quoted-printable")) {
    const joined = raw.replace(/=\r\n/g, "");
    return Buffer.from(joined.replace(/=([0-9A-F]{2})/gi, (_, h) => String.fromCharCode(parseInt(h, 16))), "latin1").toString("utf8");
  }
  return raw;
}

/** Waits for the `n`-th mail to `address` and returns the link to `path` in it. */
async function link(address, n, path) {
  for (let i = 0; i < 100; i += 1) {
    const theirs = mails.filter((m) => m.to.includes(address));
    if (theirs.length >= n) {
      const text = body(theirs[n - 1]);
      const found = text.match(new RegExp(`https?://[^\\s"<>]*/${path}\\?token=[^\\s"<>]+`));
      if (!found) throw new Error(`no ${path} link in: ${text}`);
      return found[0];
    }
    await new Promise((r) => setTimeout(r, 100));
  }
  throw new Error(`no mail #${n} to ${address}`);
}

const browser = await chromium.launch({
  executablePath: process.env.CHROMIUM || "/usr/bin/chromium",
  args: [
    "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
    "--disable-background-networking", "--disable-component-update", "--disable-sync",
  ],
});
const started = Date.now();
try {
  const context = await browser.newContext();
  const page = await context.newPage();
  // Sign up: with mail configured, the account waits for its verification link.
  await page.goto(base + "/register");
  await page.getByLabel("First name").fill("Grace");
  await page.getByLabel("Last name").fill("Hopper");
  await page.getByLabel("Email").fill("grace@example.com");
  await page.getByLabel("Password", { exact: true }).fill("correct-zebra-staple-42");
  await page.getByRole("button", { name: "Create my account" }).click();
  check(await page.getByRole("status").innerText().then((t) => t.includes("Confirm your email")), "the account waits for its link");
  const verify = await link("grace@example.com", 1, "verify-email");
  check(verify.startsWith(base), `the link points at this instance: ${verify}`);
  await page.goto(verify);
  await page.waitForURL("**/organizations");
  check(await page.getByRole("link", { name: "Grace Hopper's personal organization" }).isVisible(), "the link signs the user in");
  // A second visit of the same link: already verified, nobody signed in by it.
  const again = await browser.newContext();
  const stranger = await again.newPage();
  await stranger.goto(verify);
  check(await stranger.getByRole("alert").isVisible(), "a used verification link says so");
  await again.close();

  // Forgotten password: a link by mail, which works once.
  await page.getByRole("button", { name: "Log out" }).click();
  await page.waitForURL("**/login");
  await page.getByRole("link", { name: "Forgot your password?" }).click();
  await page.getByLabel("Email").fill("grace@example.com");
  await page.getByRole("button", { name: "Send me a link" }).click();
  check(await page.getByRole("status").innerText().then((t) => t.includes("If an account has this address")), "the answer tells nothing");
  const reset = await link("grace@example.com", 2, "reset-password");
  await page.goto(reset);
  await page.getByLabel("New password").fill("Brand-new-Passw0rd!");
  await page.getByRole("button", { name: "Set my password" }).click();
  check(await page.getByRole("status").innerText().then((t) => t.includes("Your password is changed")), "the password is reset");
  await page.goto(reset);
  await page.getByLabel("New password").fill("Another-new-Passw0rd!");
  await page.getByRole("button", { name: "Set my password" }).click();
  check(await page.getByRole("alert").isVisible(), "the reset link works once");
  await page.goto(base + "/login");
  await page.getByLabel("Email").fill("grace@example.com");
  await page.getByLabel("Password").fill("Brand-new-Passw0rd!");
  await page.getByRole("button", { name: "Log in" }).click();
  await page.waitForURL("**/organizations");
  check(page.url().endsWith("/organizations"), "the new password signs in");
  await context.close();
} finally {
  await browser.close();
  sink.close();
}
console.log(`mail suite: ${steps} checks passed in ${((Date.now() - started) / 1000).toFixed(1)} s`);
