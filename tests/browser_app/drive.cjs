// Bundles app.js with esbuild into SITE_DIR (beside index.html), then opens each page URL in
// headless Debian chromium (playwright-core, no browser download) and reports what the app
// saw (`window.appResult`) and what chromium logged on its console.
// Usage: node drive.cjs SITE_DIR PROFILE_DIR SCREENSHOT PAGE_URL...
// Prints one JSON line: {pages: [{url, result, console, pageErrors}], offsite}.
const fs = require("fs");
const path = require("path");
const esbuild = require("esbuild");
const { chromium } = require("playwright-core");

const FLAGS = [
  "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
  "--disable-background-networking", "--disable-component-update", "--disable-sync",
];

async function visit(context, url) {
  const page = await context.newPage();
  const consoleLines = [];
  const pageErrors = [];
  page.on("console", (message) => consoleLines.push(`${message.type()}: ${message.text()}`));
  page.on("pageerror", (error) => pageErrors.push(String(error)));
  try {
    await page.goto(url, { waitUntil: "load" });
    await page.waitForFunction(() => window.appResult !== undefined, null, { timeout: 60000 });
    const result = await page.evaluate(() => window.appResult);
    return { url, result, console: consoleLines, pageErrors, page };
  } catch (error) {
    return { url, error: String(error), console: consoleLines, pageErrors, page };
  }
}

async function main() {
  const [site, profile, screenshot, ...urls] = process.argv.slice(2);
  fs.mkdirSync(site, { recursive: true });
  fs.copyFileSync(path.join(__dirname, "index.html"), path.join(site, "index.html"));
  await esbuild.build({
    entryPoints: [path.join(__dirname, "app.js")],
    bundle: true,
    format: "iife",
    target: "es2020",
    minify: true,
    outfile: path.join(site, "app.bundle.js"),
    nodePaths: (process.env.NODE_PATH || "").split(path.delimiter).filter(Boolean),
    define: { "process.env.NODE_ENV": '"production"' },
    logLevel: "error",
  });
  const context = await chromium.launchPersistentContext(profile, {
    executablePath: process.env.CHROMIUM || "/usr/bin/chromium",
    headless: true,
    args: FLAGS,
  });
  const offsite = [];
  await context.route("**/*", (route) => {
    const url = route.request().url();
    if (/^(http|ws)s?:\/\/127\.0\.0\.1[:/]/.test(url)) return route.continue();
    offsite.push(url);
    return route.abort();
  });
  const pages = [];
  try {
    for (const url of urls) {
      const visited = await visit(context, url);
      if (pages.length === 0) {
        await visited.page.screenshot({ path: screenshot, fullPage: true }).catch(() => {});
      }
      delete visited.page;
      pages.push(visited);
    }
  } finally {
    await context.close();
  }
  console.log(JSON.stringify({ pages, offsite }));
}

main().catch((error) => {
  console.log(JSON.stringify({ error: String(error && error.stack ? error.stack : error) }));
  process.exit(1);
});
