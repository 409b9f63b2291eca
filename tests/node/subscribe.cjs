// Subscribes with graphql-ws, the npm client (over the `ws` package: Node 20 has no global
// WebSocket), as a Node service of a user would.
// Usage: node subscribe.cjs WS_URL QUERY COUNT [CONNECTION_PARAMS_JSON]
// Prints one JSON line per result as it arrives ({"next": payload}); then, once COUNT results
// arrived, {"events": [...]}; on an error or a closed socket {"events": [...], "error": ...}
// and exit code 1.
const { createClient } = require("graphql-ws");
const WebSocket = require("ws");

function describe(error) {
  if (Array.isArray(error)) return { graphqlErrors: error };
  if (error && typeof error.code === "number") return { closeCode: error.code, reason: error.reason };
  return { message: String(error) };
}

async function main() {
  const [url, query, count, params] = process.argv.slice(2);
  const client = createClient({
    url,
    webSocketImpl: WebSocket,
    connectionParams: params ? JSON.parse(params) : undefined,
    retryAttempts: 0,
  });
  const events = [];
  try {
    await new Promise((resolve, reject) => {
      const unsubscribe = client.subscribe({ query }, {
        next: (payload) => {
          events.push(payload);
          console.log(JSON.stringify({ next: payload }));
          if (events.length >= Number(count)) {
            unsubscribe();
            resolve();
          }
        },
        error: reject,
        complete: () => reject(new Error(`completed after ${events.length} results`)),
      });
    });
    console.log(JSON.stringify({ events }));
  } catch (error) {
    console.log(JSON.stringify({ events, error: describe(error) }));
    process.exitCode = 1;
  } finally {
    await client.dispose();
  }
}

main().catch((error) => {
  console.error(error);
  process.exit(1);
});
