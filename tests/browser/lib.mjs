// Helpers of the browser tests: a fresh `hive serve`, the fake OpenAI
// server and the official Python SDK examples, headless Chromium.
import { spawn } from "node:child_process";
import { mkdtempSync, mkdirSync, existsSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, dirname } from "node:path";
import { fileURLToPath } from "node:url";
import { createInterface } from "node:readline";
import { chromium } from "playwright-core";

const HERE = dirname(fileURLToPath(import.meta.url));
export const REPO = join(HERE, "..", "..");
export const ARTIFACTS = join(HERE, process.env.HIVE_BROWSER_ARTIFACTS || "artifacts");
const EXAMPLES = join(REPO, "tests", "compat", "examples");

export const HIVE_BIN = process.env.HIVE_BIN || join(REPO, "target", "debug", "hive");
export const PYTHON =
  process.env.PYTHON ||
  [join(REPO, ".venv", "bin", "python"), "/work/venv/bin/python"].find((p) => existsSync(p)) ||
  "python3";
export const CHROMIUM = process.env.CHROMIUM || "/usr/bin/chromium";

/** Read lines of a stream until `done(lines)` says stop, or time out. */
function waitLines(stream, done, timeoutMs, what) {
  return new Promise((resolve, reject) => {
    const lines = [];
    const rl = createInterface({ input: stream });
    const timer = setTimeout(() => {
      reject(new Error(`${what}: timed out; output so far:\n${lines.join("\n")}`));
    }, timeoutMs);
    rl.on("line", (line) => {
      lines.push(line);
      if (done(lines)) {
        clearTimeout(timer);
        resolve(lines);
      }
    });
    rl.on("close", () => {
      clearTimeout(timer);
      reject(new Error(`${what}: ended early; output:\n${lines.join("\n")}`));
    });
  });
}

/** A ClickHouse server (no database) to keep each hive's data in, or "" (SQLite). */
export const CLICKHOUSE = (process.env.HIVE_TEST_CLICKHOUSE || "").replace(/\/+$/, "");
let databases = 0;

/** Start `hive serve` on a temporary data directory and a free port (its
 * data in a ClickHouse database of its own under HIVE_TEST_CLICKHOUSE). */
export async function startHive() {
  const root = mkdtempSync(join(tmpdir(), "hive-browser-"));
  const store = CLICKHOUSE
    ? ["--clickhouse", `${CLICKHOUSE}/browser_${process.pid}_${++databases}`]
    : [];
  const proc = spawn(
    HIVE_BIN,
    // Webhook receivers of the tests listen on 127.0.0.1.
    ["serve", "--data-dir", join(root, "data"), "--addr", "127.0.0.1:0", "--grpc-addr", "off",
     "--webhook-allow-private", ...store],
    { stdio: ["ignore", "ignore", "pipe"] },
  );
  const lines = await waitLines(
    proc.stderr,
    (ls) => ls.some((l) => l.startsWith("listening on ")),
    60_000,
    "hive serve",
  );
  proc.stderr.resume();
  const text = lines.join("\n");
  const url = text.match(/listening on (http:\/\/127\.0\.0\.1:\d+)/)[1];
  const key = text.match(/^\s+HH_API_KEY=(\S+)\s*$/m)[1];
  const login = text.match(/^dashboard: (\S+)$/m);
  if (!login) throw new Error(`hive serve printed no dashboard login URL:\n${text}`);
  return {
    url,
    key,
    loginUrl: login[1],
    dataDir: join(root, "data"),
    async stop() {
      if (proc.exitCode === null) {
        proc.kill("SIGTERM");
        await new Promise((r) => proc.once("exit", r));
      }
      rmSync(root, { recursive: true, force: true });
    },
  };
}

/** The fake OpenAI endpoint of the compatibility suite. */
export async function startFakeOpenAI() {
  const proc = spawn(PYTHON, [join(REPO, "tests", "compat", "fake_openai.py")], {
    stdio: ["ignore", "pipe", "inherit"],
    env: { ...process.env, PYTHONUNBUFFERED: "1" },
  });
  const lines = await waitLines(
    proc.stdout,
    (ls) => ls.some((l) => l.includes("listening on")),
    30_000,
    "fake_openai.py",
  );
  proc.stdout.resume();
  const port = lines.join("\n").match(/127\.0\.0\.1:(\d+)/)[1];
  return {
    base: `http://127.0.0.1:${port}/v1`,
    stop() {
      proc.kill("SIGTERM");
    },
  };
}

/** Run one example of tests/compat/examples with the official SDK. */
export async function runExample(name, { hive, openai, project = "compat", key } = {}) {
  const env = {};
  for (const [k, v] of Object.entries(process.env)) {
    if (!/^(HH_|HONEYHIVE_|OPENAI_|OTEL_)/.test(k)) env[k] = v;
  }
  Object.assign(env, {
    HH_API_URL: hive.url,
    HH_API_KEY: key || hive.key,
    HH_PROJECT: project,
    OPENAI_BASE_URL: openai.base,
    OPENAI_API_KEY: "test",
    PYTHONUNBUFFERED: "1",
    PYTHONDONTWRITEBYTECODE: "1",
  });
  const proc = spawn(PYTHON, [join(EXAMPLES, `${name}.py`)], { cwd: EXAMPLES, env });
  let out = "";
  let err = "";
  proc.stdout.on("data", (d) => (out += d));
  proc.stderr.on("data", (d) => (err += d));
  const code = await new Promise((r) => proc.once("exit", r));
  if (code !== 0) throw new Error(`example ${name} exited ${code}\n${out}\n${err.slice(-3000)}`);
  const line = out.split("\n").find((l) => l.startsWith("EXAMPLE_RESULT "));
  return line ? JSON.parse(line.slice("EXAMPLE_RESULT ".length)) : {};
}

/** A JSON request to the API with the admin key. */
export async function api(hive, method, path, body) {
  const r = await fetch(hive.url + path, {
    method,
    headers: { authorization: `Bearer ${hive.key}`, "content-type": "application/json" },
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  const text = await r.text();
  if (!r.ok) throw new Error(`${method} ${path} -> ${r.status} ${text}`);
  return text ? JSON.parse(text) : null;
}

/** Headless Chromium with a fresh profile; no network beyond loopback. */
export async function launch() {
  const profile = mkdtempSync(join(tmpdir(), "hive-chromium-"));
  const context = await chromium.launchPersistentContext(profile, {
    executablePath: CHROMIUM,
    headless: true,
    viewport: { width: 1440, height: 900 },
    args: [
      "--no-sandbox",
      "--disable-gpu",
      "--disable-dev-shm-usage",
      "--disable-background-networking",
      "--disable-component-update",
      "--disable-sync",
      "--no-first-run",
      "--disable-quic",
    ],
  });
  return {
    context,
    async close() {
      await context.close();
      rmSync(profile, { recursive: true, force: true });
    },
  };
}

/** Save a full-page screenshot as a test artifact; returns its path. */
/// Open a one-time login link and sign in with its button (a GET alone
/// never uses the token up). Returns the response of the login page.
export async function logIn(page, loginUrl) {
  const resp = await page.goto(loginUrl);
  await Promise.all([page.waitForURL(/\/sessions/), page.click("form.login button")]);
  return resp;
}

export async function shot(page, name, { fullPage = false } = {}) {
  mkdirSync(ARTIFACTS, { recursive: true });
  const path = join(ARTIFACTS, `${name}.png`);
  await page.screenshot({ path, fullPage });
  return path;
}
