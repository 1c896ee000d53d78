// The dashboard in headless Chromium, over sessions the official Python SDK
// sent: login, the sessions list, a metadata filter in the URL, the session
// view's Metadata, Attributes and History panels, events, keys, views,
// logout. Each page is saved as a screenshot under artifacts/.
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import { startHive, startFakeOpenAI, runExample, launch, shot, api, logIn } from "./lib.mjs";

let hive, openai, browser, page;
const sessions = {};

before(async () => {
  hive = await startHive();
  openai = await startFakeOpenAI();
  // Documented examples, run with the official SDK (honeyhive 1.7.0).
  for (const ex of ["b05_all_together", "a08_pattern3_feedback", "b04_use_cases"]) {
    Object.assign(sessions, (await runExample(ex, { hive, openai, project: "compat" })).session_ids);
  }
  browser = await launch();
  page = await browser.context.newPage();
});

after(async () => {
  await browser?.close();
  openai?.stop();
  await hive?.stop();
});

test("the login URL printed by hive serve logs in once, with a strict HttpOnly cookie", async () => {
  // Opening the link alone (a link preview, say) does not use it up.
  const preview = await launch();
  try {
    const pp = await preview.context.newPage();
    await pp.goto(hive.loginUrl);
    assert.match(pp.url(), /\/login\?token=/);
    assert.ok(await pp.isVisible("form.login button"), "a sign-in button");
  } finally {
    await preview.close();
  }
  const resp = await logIn(page, hive.loginUrl);
  assert.match(page.url(), /\/sessions/);
  const csp = resp.headers()["content-security-policy"];
  assert.match(csp, /script-src 'self'/);
  assert.match(csp, /frame-ancestors 'none'/);
  const cookies = await browser.context.cookies(hive.url);
  const c = cookies.find((c) => c.name === "hive_session");
  assert.ok(c, "hive_session cookie set");
  assert.equal(c.httpOnly, true);
  assert.equal(c.sameSite, "Strict");
  assert.equal(c.path, "/");
  // Single use: a second browser cannot reuse the link.
  const other = await launch();
  try {
    const p2 = await other.context.newPage();
    await p2.goto(hive.loginUrl);
    const [r2] = await Promise.all([
      p2.waitForResponse((r) => r.url().endsWith("/login") && r.request().method() === "POST"),
      p2.click("form.login button"),
    ]);
    assert.equal(r2.status(), 401);
    assert.match(await p2.textContent("body"), /invalid, expired or already used/);
    const r3 = await p2.goto(hive.url + "/sessions");
    assert.match(p2.url(), /\/login$/, "not logged in: sent to the login page");
    assert.equal(r3.status(), 200);
  } finally {
    await other.close();
  }
});

test("sessions sent by the Python SDK are listed", async () => {
  await page.goto(`${hive.url}/sessions?project=compat`);
  const names = await page.locator("table.list td.name").allTextContents();
  assert.ok(names.includes("b05_all_together"), `sessions: ${names}`);
  assert.ok(names.includes("b04_use_cases"), `sessions: ${names}`);
  assert.equal(await page.locator("#project-select").inputValue(), "compat");
  await shot(page, "sessions");
});

test("a metadata filter narrows the list, lives in the URL and survives back/forward", async () => {
  await page.goto(`${hive.url}/sessions?project=compat`);
  const all = await page.locator("table.list tbody tr").count();
  assert.ok(all >= 2, `${all} sessions`);
  const row = page.locator("[data-filter-row]").last();
  await row.locator(".ff").fill("metadata.tenant_id");
  await row.locator(".fo").selectOption("is");
  await row.locator(".fv").fill("acme_corp");
  await Promise.all([page.waitForURL(/ff=metadata.tenant_id/), page.click("button.primary")]);
  assert.match(page.url(), /fv=acme_corp/);
  const names = await page.locator("table.list td.name").allTextContents();
  assert.deepEqual(names, ["b05_all_together"]);
  await shot(page, "sessions-filtered");
  // A shared link shows the same thing.
  const link = page.url();
  await page.goBack();
  assert.equal(await page.locator("table.list tbody tr").count(), all);
  await page.goForward();
  assert.deepEqual(await page.locator("table.list td.name").allTextContents(), ["b05_all_together"]);
  await page.goto(link);
  assert.deepEqual(await page.locator("table.list td.name").allTextContents(), ["b05_all_together"]);
  // Operators per type: a number filter from key discovery.
  await page.goto(
    `${hive.url}/sessions?project=compat&ff=metadata.total_tokens&fo=greater+than&fv=0`,
  );
  assert.ok((await page.locator("table.list tbody tr").count()) >= 1);
});

test("the session view shows the tree, Metadata, Attributes and History", async () => {
  await page.goto(`${hive.url}/sessions?project=compat&ff=metadata.tenant_id&fo=is&fv=acme_corp`);
  await Promise.all([page.waitForURL(/\/sessions\/[^?]+\?/), page.click("table.list td.name a")]);
  // The tree: the session and its events, nested and collapsible.
  const rows = page.locator("#tree .ev");
  assert.ok((await rows.count()) >= 3, "session and its events");
  await page.click("[data-tree=close]");
  assert.equal(await page.locator("#tree details[open]").count(), 0);
  await page.click("[data-tree=open]");
  assert.ok((await page.locator("#tree details[open]").count()) >= 1);
  // Metadata of the session (enrich_session).
  const md = await page.textContent("#p-metadata");
  assert.match(md, /tenant_id/);
  assert.match(md, /acme_corp/);
  assert.match(md, /app_version/);
  // History: every enrichment, with its key.
  const hist = await page.textContent("#p-history");
  assert.match(hist, /metadata\.tenant_id/);
  assert.match(hist, /admin \(first start\)/);
  await shot(page, "session");
  // A span event: its raw attributes.
  await Promise.all([
    page.waitForURL(/event=/),
    page.locator("#tree .ev:not(.sel) a.evname").filter({ hasText: "model" }).first().click(),
  ]);
  const attrs = await page.textContent("#p-attributes");
  assert.doesNotMatch(attrs, /No span/);
  assert.ok((await page.locator("#p-attributes .j-key").count()) >= 1, "span attributes listed");
  assert.match(await page.textContent("#p-io"), /fake reply to/);
  assert.ok((await page.locator("#p-io .msg").count()) >= 1, "chat rendered as messages");
  await page.locator("#p-io").scrollIntoViewIfNeeded();
  await shot(page, "session-event");
});

test("a session shows the selected event's content, and its own for an event it does not hold", async () => {
  // The tree is read without content (on ClickHouse); the panel's event's
  // content is read apart, also when the selection falls back to the
  // session.
  const sid = "0b5e55ed-0000-4000-8000-000000000200";
  await api(hive, "POST", "/session/start", {
    session: { session_id: sid, session_name: "shown", project: "compat", inputs: { question: "the session's own question" } },
  });
  const { event_id } = await api(hive, "POST", "/events", {
    event: { event_type: "tool", event_name: "lookup", session_id: sid, project: "compat", inputs: { q: "the tool's input" }, outputs: { a: "the tool's answer" } },
  });
  for (const [event, want, not] of [
    ["", /the session's own question/, /the tool's/],
    [`&event=${event_id}`, /the tool's answer/, /the session's own question/],
    ["&event=not-in-this-session", /the session's own question/, /the tool's/],
  ]) {
    const resp = await page.goto(`${hive.url}/sessions/${sid}?project=compat${event}`);
    assert.equal(resp.status(), 200);
    const io = await page.textContent("#p-io");
    assert.match(io, want, event);
    assert.doesNotMatch(io, not, event);
  }
});

test("the events view lists every event with the same filters", async () => {
  await page.goto(`${hive.url}/events?project=compat&ff=event_type&fo=is&fv=model`);
  const types = await page.locator("table.list tbody td .tag").allTextContents();
  assert.ok(types.length >= 2, `events: ${types}`);
  assert.ok(types.every((t) => t === "model"));
  await shot(page, "events");
});

test("saved views keep a filter under a name", async () => {
  await page.goto(`${hive.url}/sessions?project=compat&ff=metadata.tenant_id&fo=is&fv=acme_corp`);
  await page.fill("form.saveview input[name=name]", "acme sessions");
  await Promise.all([page.waitForURL(/\/views/), page.click("form.saveview button")]);
  assert.match(await page.textContent("table.list"), /acme sessions/);
  await shot(page, "views");
  await Promise.all([page.waitForURL(/\/sessions\?/), page.click("text=acme sessions")]);
  assert.deepEqual(await page.locator("table.list td.name").allTextContents(), ["b05_all_together"]);
});

test("API keys: a new key is shown once and can be revoked; forms need the CSRF token", async () => {
  await page.goto(`${hive.url}/keys?project=compat`);
  await page.fill("input[name=name]", "browser-test key");
  await page.selectOption("select[name=scope]", "read_write");
  await page.selectOption("select[name=expires_in]", "30d");
  await page.click("form.card button.primary");
  const secret = (await page.textContent("#new-secret")).trim();
  // A read-write key is a data-plane key for the SDK, and says so.
  assert.match(secret, /^hh_fgdp_[A-Za-z0-9]{24}_[A-Za-z0-9_-]{64}$/);
  assert.match(await page.textContent("div.created pre.cmd"), /HH_DATA_PLANE_API_KEY=hh_fgdp_/);
  // It expires in 30 days (the list shows the date, UTC).
  const in30 = new Date(Date.now() + 30 * 86400000).toISOString().slice(0, 10);
  assert.match(await page.locator("tr", { hasText: "browser-test key" }).textContent(), new RegExp(in30));
  await shot(page, "keys");
  // The key works against the API, for its project.
  const r = await fetch(`${hive.url}/v1/events/export`, {
    method: "POST",
    headers: { authorization: `Bearer ${secret}` },
    body: JSON.stringify({ level: "session" }),
  });
  assert.equal(r.status, 200);
  await page.goto(`${hive.url}/keys?project=compat`);
  assert.equal(await page.locator("#new-secret").count(), 0, "the secret is not shown again");
  page.once("dialog", (d) => d.accept());
  const row = page.locator("tr", { hasText: "browser-test key" });
  await Promise.all([page.waitForURL(/\/keys/), row.locator("button.danger").click()]);
  assert.match(await page.locator("tr", { hasText: "browser-test key" }).textContent(), /revoked/);
  // A state-changing request without the token is refused, even with the cookie.
  const forged = await page.request.post(`${hive.url}/keys`, {
    form: { name: "forged", scope: "admin", project: "compat" },
  });
  assert.equal(forged.status(), 403);
  const keys = await api(hive, "GET", "/v1/keys");
  assert.ok(!JSON.stringify(keys).includes("forged"));
});

test("a 100 KB payload renders as a bounded, expandable tree", async () => {
  const sid = "0b5e55ed-0000-4000-8000-000000000100";
  await api(hive, "POST", "/session/start", { session: { session_id: sid, session_name: "big-payload", project: "compat" } });
  const big = {};
  for (let i = 0; i < 2000; i++) big[`key_${String(i).padStart(4, "0")}`] = { text: `value ${i} `.repeat(4), n: i };
  const outputs = { big, long_text: "lorem ipsum ".repeat(2500) };
  const size = JSON.stringify(outputs).length;
  assert.ok(size > 100_000, `payload is ${size} bytes`);
  const { event_id } = await api(hive, "POST", "/events", {
    event: { event_type: "tool", event_name: "big-output", session_id: sid, project: "compat", inputs: {}, outputs },
  });
  const resp = await page.goto(`${hive.url}/sessions/${sid}?project=compat&event=${event_id}`);
  assert.equal(resp.status(), 200);
  assert.match(await page.textContent("#p-io"), /key_0000/);
  // Bounded: the page does not build a node per value of a huge payload.
  const nodes = await page.evaluate(() => document.querySelectorAll("*").length);
  assert.ok(nodes < 20_000, `${nodes} DOM nodes`);
  // Still interactive: a nested object of the payload expands and collapses.
  const nested = page.locator("#p-io details").first();
  const summary = nested.locator("summary").first();
  const wasOpen = await nested.evaluate((d) => d.open);
  await summary.click();
  assert.equal(await nested.evaluate((d) => d.open), !wasOpen);
  await summary.click();
  assert.equal(await nested.evaluate((d) => d.open), wasOpen);
  await shot(page, "big-payload");
});


test("Redaction: turned on in its page, it applies to the next writes and counts them", async () => {
  await page.goto(`${hive.url}/redaction?project=compat`);
  assert.equal(await page.isChecked("input[name=enabled]"), false, "off by default");
  await page.check("input[name=enabled]");
  await page.fill("textarea[name=keys]", "ssn");
  await Promise.all([page.waitForURL(/saved=1/), page.click("form.redaction button.primary")]);
  assert.match(await page.textContent("main"), /Saved\./);
  const started = await api(hive, "POST", "/session/start", {
    session: { project: "compat", session_name: "redacted", metadata: { ssn: "078-05-1120", contact: "ada@example.com" } },
  });
  assert.deepEqual(started.metadata, { ssn: "[REDACTED:ssn]", contact: "[REDACTED:email]" });
  await page.goto(`${hive.url}/redaction?project=compat`);
  const counts = await page.locator("table.counts td.mono").allTextContents();
  assert.deepEqual(counts, ["email", "ssn"]);
  await shot(page, "redaction", { fullPage: true });
  // Off again: later writes are kept as sent.
  await page.uncheck("input[name=enabled]");
  await Promise.all([page.waitForURL(/saved=1/), page.click("form.redaction button.primary")]);
  const plain = await api(hive, "POST", "/session/start", {
    session: { project: "compat", session_name: "plain", metadata: { contact: "ada@example.com" } },
  });
  assert.equal(plain.metadata.contact, "ada@example.com");
});

test("project switcher and logout", async () => {
  await page.goto(`${hive.url}/sessions?project=compat`);
  await Promise.all([page.waitForURL(/project=default/), page.selectOption("#project-select", "default")]);
  assert.equal(await page.locator("#project-select").inputValue(), "default");
  await Promise.all([page.waitForURL(/\/login$/), page.click("form.logout button")]);
  await page.goto(`${hive.url}/sessions`);
  assert.match(page.url(), /\/login$/);
  await shot(page, "login");
});
