// Drives the gateway's GraphiQL page in headless Debian chromium (playwright-core, no browser
// download): the editor renders, a query typed into it runs, the result pane shows data.
// Usage: node graphiql.cjs PAGE_URL QUERY SCREENSHOT PROFILE_DIR
// Every request the page makes is recorded; one to any other origin is aborted and reported.
// Prints one JSON line: {result, offsite, explorer, screenshot, editorText}.
const { chromium } = require("playwright-core");

const FLAGS = [
  "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
  "--disable-background-networking", "--disable-component-update", "--disable-sync",
];

async function editorText(page, selector) {
  return page.$eval(selector, (element) => element.CodeMirror.getValue());
}

async function main() {
  const [pageUrl, query, screenshot, profile] = process.argv.slice(2);
  const origin = new URL(pageUrl).origin;
  const context = await chromium.launchPersistentContext(profile, {
    executablePath: process.env.CHROMIUM || "/usr/bin/chromium",
    headless: true,
    args: FLAGS,
    viewport: { width: 1400, height: 900 },
  });
  const offsite = [];
  await context.route("**/*", (route) => {
    const url = route.request().url();
    if (url.startsWith(origin + "/") || url.startsWith("data:")) return route.continue();
    offsite.push(url);
    return route.abort();
  });
  const page = context.pages()[0] || (await context.newPage());
  const pageErrors = [];
  page.on("pageerror", (error) => pageErrors.push(String(error)));
  try {
    await page.goto(pageUrl, { waitUntil: "load" });
    const queryEditor = ".graphiql-query-editor .CodeMirror";
    await page.waitForSelector(queryEditor, { timeout: 20000 });
    // Type the query: focus the editor, select what is there, and type over it.
    await page.click(queryEditor);
    await page.keyboard.press("Control+A");
    await page.keyboard.press("Delete");
    await page.keyboard.insertText(query);
    const typed = await editorText(page, queryEditor);
    await page.click(".graphiql-execute-button");
    const resultPane = ".graphiql-response .CodeMirror";
    await page.waitForFunction(
      (selector) => {
        const element = document.querySelector(selector);
        return element && element.CodeMirror.getValue().includes('"data"');
      },
      resultPane,
      { timeout: 20000 },
    );
    const resultText = await editorText(page, resultPane);
    const explorer = await page.$$eval(
      ".graphiql-sidebar button", (buttons) => buttons.map((b) => b.getAttribute("aria-label")),
    );
    // Open the explorer plugin: it lists the schema's root fields from introspection.
    await page.click('button[aria-label="Show GraphiQL Explorer"]');
    await page.waitForSelector(".graphiql-plugin .graphiql-explorer-root", { timeout: 10000 });
    const explorerText = await page.$eval(".graphiql-plugin", (element) => element.innerText);
    await page.screenshot({ path: screenshot, fullPage: true });
    console.log(JSON.stringify({
      result: JSON.parse(resultText), editorText: typed, offsite, explorer, explorerText,
      pageErrors, screenshot,
    }));
  } catch (error) {
    await page.screenshot({ path: screenshot, fullPage: true }).catch(() => {});
    console.log(JSON.stringify({ error: String(error), offsite, pageErrors, screenshot }));
    process.exitCode = 1;
  } finally {
    await context.close();
  }
}

main().catch((error) => {
  console.error(error);
  process.exit(1);
});
