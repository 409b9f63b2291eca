// A finance frontend as its developers would write it: Apollo Client, queries over HTTP,
// subscriptions over graphql-ws, the API key sent as `Authorization: Bearer <key>` (and, as
// browsers cannot set headers on a WebSocket, in `connection_init`). Bundled by esbuild.
// The page's URL names the gateway and the key: index.html?gateway=http://...&key=...
// It writes what happened to `window.appResult` (drive.cjs reads it).
import { ApolloClient, HttpLink, InMemoryCache, gql, split } from "@apollo/client";
import { GraphQLWsLink } from "@apollo/client/link/subscriptions";
import { getMainDefinition } from "@apollo/client/utilities";
import { createClient } from "graphql-ws";

const INVOICES = gql`
  query FirstInvoices {
    invoices(first: 2, filter: { sources: ["billing"] }) {
      nodes { id number source total { amount currency } }
    }
  }
`;
const EVENTS = gql`
  subscription BillingEvents {
    invoiceEvents(sources: ["billing"]) {
      type source remoteId origin invoiceId
      invoice { id number }
    }
  }
`;
const RENUMBER = gql`
  mutation Renumber($id: ID!, $number: String!) {
    updateInvoice(input: { id: $id, number: $number }) {
      invoice { id number }
      userErrors { message }
    }
  }
`;

function within(ms, what, promise) {
  let timer;
  const timeout = new Promise((_, reject) => {
    timer = setTimeout(() => reject(new Error(`${what}: nothing within ${ms} ms`)), ms);
  });
  return Promise.race([promise, timeout]).finally(() => clearTimeout(timer));
}

function describe(error) {
  return { name: error && error.name, message: String(error && error.message ? error.message : error) };
}

function makeClient(gateway, key, out) {
  const http = new HttpLink({
    uri: `${gateway}/graphql`,
    headers: { authorization: `Bearer ${key}`, "apollo-require-preflight": "true" },
    // Read an exposed response header: only CORS's Expose-Headers lets the page see it.
    fetch: async (uri, options) => {
      const response = await fetch(uri, options);
      out.requestIds.push(response.headers.get("x-request-id"));
      return response;
    },
  });
  const sockets = createClient({
    url: `${gateway.replace(/^http/, "ws")}/graphql`,
    connectionParams: { Authorization: `Bearer ${key}` },
    retryAttempts: 0,
    on: {
      connected: () => out.socket.push("connected"),
      closed: (event) => out.socket.push(`closed ${event.code}`),
      error: () => out.socket.push("error"),
    },
  });
  const link = split(
    ({ query }) => {
      const definition = getMainDefinition(query);
      return definition.kind === "OperationDefinition" && definition.operation === "subscription";
    },
    new GraphQLWsLink(sockets),
    http,
  );
  return { client: new ApolloClient({ link, cache: new InMemoryCache() }), sockets };
}

// Subscribe, then renumber an invoice until its event arrives (the first write may land
// before the gateway has registered the subscription).
async function eventAfterWrites(client, invoice, out) {
  let subscription;
  const event = new Promise((resolve, reject) => {
    subscription = client.subscribe({ query: EVENTS }).subscribe({
      next: (result) => (result.data ? resolve(result.data.invoiceEvents) : reject(result.error)),
      error: reject,
    });
  });
  let stop = false;
  const writes = (async () => {
    for (let attempt = 1; attempt <= 10 && !stop; attempt += 1) {
      await new Promise((resolve) => setTimeout(resolve, attempt === 1 ? 300 : 1500));
      if (stop) break;
      const number = `INV-BROWSER-${attempt}`;
      const { data } = await client.mutate({ mutation: RENUMBER, variables: { id: invoice.id, number } });
      out.writes.push(data.updateInvoice);
    }
  })();
  try {
    return await within(20000, "invoiceEvents", event);
  } finally {
    stop = true;
    subscription.unsubscribe();
    await writes.catch((error) => out.errors.push(describe(error)));
  }
}

// A refused socket ends the subscription with an error (graphql-ws: no retries here).
async function subscriptionOutcome(client) {
  return within(10000, "refused subscription", new Promise((resolve) => {
    client.subscribe({ query: EVENTS }).subscribe({
      next: (result) => resolve({ next: result.data || null, error: result.error ? describe(result.error) : null }),
      error: (error) => resolve({ error: describe(error) }),
      complete: () => resolve({ complete: true }),
    });
  })).catch((error) => ({ timeout: describe(error) }));
}

// The CSV export as a page downloads it: its name and row count come from exposed headers.
async function download(gateway, key) {
  try {
    const response = await fetch(`${gateway}/export/invoices?format=csv&sources=billing`, {
      headers: { authorization: `Bearer ${key}` },
    });
    const text = await response.text();
    return {
      status: response.status,
      disposition: response.headers.get("content-disposition"),
      total: response.headers.get("x-total-count"),
      header: text.split("\n", 1)[0],
      rows: text.trim().split("\n").length - 1,
    };
  } catch (error) {
    return { error: describe(error) };
  }
}

async function main() {
  const params = new URLSearchParams(window.location.search);
  const out = { origin: window.location.origin, requestIds: [], socket: [], writes: [], errors: [] };
  const { client, sockets } = makeClient(params.get("gateway"), params.get("key"), out);
  try {
    try {
      const { data } = await client.query({ query: INVOICES });
      out.invoices = data.invoices.nodes;
    } catch (error) {
      out.queryError = describe(error);
    }
    out.download = await download(params.get("gateway"), params.get("key"));
    if (out.invoices && out.invoices.length) {
      out.event = await eventAfterWrites(client, out.invoices[0], out);
    } else {
      out.subscription = await subscriptionOutcome(client);
    }
  } catch (error) {
    out.errors.push(describe(error));
  } finally {
    await sockets.dispose();
    window.appResult = out;
    document.getElementById("status").textContent = JSON.stringify(out, null, 2);
  }
}

main();
