// Runs a subscription from the gateway's GraphiQL page in headless Debian chromium
// (playwright-core, no browser download): the subscription is typed into the editor and run;
// the test then causes an event, and the result pane must show it.
// Usage: node graphiql-subscribe.cjs PAGE_URL SUBSCRIPTION EXPECTED_TEXT SCREENSHOT PROFILE_DIR
// Prints {"running": true} once the play button was pressed, then one JSON line:
// {result, offsite, pageErrors, screenshot} once the result pane holds EXPECTED_TEXT.
// Every request to another origin is aborted and reported.
const { chromium } = require("playwright-core");

const FLAGS = [
  "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
  "--disable-background-networking", "--disable-component-update", "--disable-sync",
];

async function main() {
  const [pageUrl, query, expected, screenshot, profile] = process.argv.slice(2);
  const origin = new URL(pageUrl).origin;
  const wsOrigin = origin.replace(/^http/, "ws");
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
  const sockets = [];
  page.on("pageerror", (error) => pageErrors.push(String(error)));
  page.on("websocket", (ws) => {
    if (!ws.url().startsWith(wsOrigin + "/")) offsite.push(ws.url());
    sockets.push(ws.url());
  });
  try {
    await page.goto(pageUrl, { waitUntil: "load" });
    const queryEditor = ".graphiql-query-editor .CodeMirror";
    await page.waitForSelector(queryEditor, { timeout: 20000 });
    await page.click(queryEditor);
    await page.keyboard.press("Control+A");
    await page.keyboard.press("Delete");
    await page.keyboard.insertText(query);
    // GraphiQL re-parses the editor 100 ms after a change and picks WebSocket or HTTP by that
    // parse: run the subscription once it is parsed, as a person clicking would.
    await page.waitForFunction(
      (selector) => {
        const ast = document.querySelector(selector).CodeMirror.documentAST;
        return Boolean(ast) && ast.definitions.some((d) => d.operation === "subscription");
      },
      queryEditor,
      { timeout: 10000 },
    );
    await page.click(".graphiql-execute-button");
    console.log(JSON.stringify({ running: true }));
    const resultPane = ".graphiql-response .CodeMirror";
    await page.waitForFunction(
      ([selector, text]) => {
        const element = document.querySelector(selector);
        return element && element.CodeMirror.getValue().includes(text);
      },
      [resultPane, expected],
      { timeout: 30000 },
    );
    const resultText = await page.$eval(resultPane, (element) => element.CodeMirror.getValue());
    await page.screenshot({ path: screenshot, fullPage: true });
    console.log(JSON.stringify({ result: JSON.parse(resultText), offsite, pageErrors, sockets, screenshot }));
  } catch (error) {
    await page.screenshot({ path: screenshot, fullPage: true }).catch(() => {});
    const resultText = await page
      .$eval(".graphiql-response .CodeMirror", (element) => element.CodeMirror.getValue())
      .catch(() => null);
    console.log(JSON.stringify({ error: String(error), resultText, offsite, pageErrors, sockets, screenshot }));
    process.exitCode = 1;
  } finally {
    await context.close();
  }
}

main().catch((error) => {
  console.error(error);
  process.exit(1);
});
