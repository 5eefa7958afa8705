// Drives one browser for the Python tests: each line on stdin is {id, js, args}; `js` is the
// body of an async function of (ctx, args), run here with playwright-core or puppeteer-core
// at hand; each answer is one line {id, ok, value | error} on stdout.
//
// Usage: node driver.mjs chromium|firefox CONFIG_JSON
//   chromium: {userDataDir, extension, args: [...], env: {...}} (Debian's /usr/bin/chromium)
//   firefox:  {profileDir, extension, env, prefs}           (Debian's /usr/bin/firefox-esr, BiDi)
import { createInterface } from 'node:readline';

const [browserName, configJson] = process.argv.slice(2);
const config = JSON.parse(configJson);
const ctx = { config, state: {} };

async function launchChromium() {
  const { chromium } = await import('playwright-core');
  ctx.context = await chromium.launchPersistentContext(config.userDataDir, {
    executablePath: '/usr/bin/chromium',
    headless: true,
    ignoreDefaultArgs: ['--disable-extensions', '--disable-component-extensions-with-background-pages'],
    args: ['--no-sandbox', `--disable-extensions-except=${config.extension}`, `--load-extension=${config.extension}`,
      ...config.args],
    env: { ...process.env, ...config.env },
    viewport: { width: 1100, height: 760 },
  });
  ctx.page = ctx.context.pages()[0] ?? await ctx.context.newPage();
}

async function launchFirefox() {
  const puppeteer = (await import('puppeteer-core')).default;
  ctx.browser = await puppeteer.launch({
    browser: 'firefox',
    executablePath: '/usr/bin/firefox-esr',
    headless: true,
    userDataDir: config.profileDir,
    extraPrefsFirefox: config.prefs ?? {},
    env: { ...process.env, ...config.env },
    args: config.args ?? [],
    acceptInsecureCerts: true,
  });
  ctx.extensionId = await ctx.browser.installExtension(config.extension);
  ctx.page = (await ctx.browser.pages())[0] ?? await ctx.browser.newPage();
}

function answer(message) {
  process.stdout.write(`${JSON.stringify(message)}\n`);
}

const AsyncFunction = (async () => {}).constructor;

try {
  await (browserName === 'firefox' ? launchFirefox() : launchChromium());
  answer({ id: 'ready', ok: true, value: null });
} catch (error) {
  answer({ id: 'ready', ok: false, error: String(error.stack ?? error) });
  process.exit(1);
}

const lines = createInterface({ input: process.stdin });
for await (const line of lines) {
  if (!line.trim()) continue;
  const { id, js, args } = JSON.parse(line);
  try {
    const value = await new AsyncFunction('ctx', 'args', js)(ctx, args ?? {});
    answer({ id, ok: true, value: value === undefined ? null : value });
  } catch (error) {
    answer({ id, ok: false, error: String(error.stack ?? error) });
  }
}
await (ctx.context ?? ctx.browser)?.close();
