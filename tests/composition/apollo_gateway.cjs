// Apollo Gateway in front of the invoice gateway and a second subgraph, as a supergraph
// operator runs it: IntrospectAndCompose reads each subgraph's `_service { sdl }`, composes
// them, and plans one query across both.
// Usage: node apollo_gateway.cjs INVOICE_GATEWAY_URL API_KEY APPROVALS_JSON QUERY
// APPROVALS_JSON maps Invoice ids (the invoice gateway's) to approvers: the second subgraph
// lists them (`approvals`) and adds `Invoice.approvedBy` by the key `id`.
// Prints one JSON line: {result, subgraphs, supergraphHasApprovedBy}.
"use strict";
const { ApolloServer } = require("@apollo/server");
const { startStandaloneServer } = require("@apollo/server/standalone");
const { buildSubgraphSchema } = require("@apollo/subgraph");
const { ApolloGateway, IntrospectAndCompose, RemoteGraphQLDataSource } = require("@apollo/gateway");
const { parse } = require("graphql");

const APPROVALS_SDL = `
  extend schema @link(url: "https://specs.apollo.dev/federation/v2.3", import: ["@key"])

  type Invoice @key(fields: "id") {
    id: ID!
    approvedBy: String
  }

  type Query {
    approvals: [Invoice!]!
  }
`;

function approvalsSubgraph(approvals) {
  const resolvers = {
    Query: { approvals: () => Object.keys(approvals).map((id) => ({ id })) },
    Invoice: {
      __resolveReference: (reference) => ({ id: reference.id }),
      approvedBy: (invoice) => approvals[invoice.id] || null,
    },
  };
  return new ApolloServer({ schema: buildSubgraphSchema([{ typeDefs: parse(APPROVALS_SDL), resolvers }]) });
}

async function main() {
  const [invoiceGateway, apiKey, approvalsJson, query] = process.argv.slice(2);
  const listen = { listen: { host: "127.0.0.1", port: 0 } };
  const subgraph = approvalsSubgraph(JSON.parse(approvalsJson));
  const { url: approvalsUrl } = await startStandaloneServer(subgraph, listen);
  const subgraphs = [
    { name: "invoices", url: `${invoiceGateway}/graphql` },
    { name: "approvals", url: approvalsUrl },
  ];
  let supergraphSdl = "";
  const gateway = new ApolloGateway({
    supergraphSdl: new IntrospectAndCompose({ subgraphs }),
    // The invoice gateway wants its API key on every request, introspection included.
    buildService: ({ name, url }) => new RemoteGraphQLDataSource({
      url,
      willSendRequest({ request }) {
        if (name === "invoices") request.http.headers.set("authorization", `Bearer ${apiKey}`);
      },
    }),
  });
  gateway.onSchemaLoadOrUpdate(({ coreSupergraphSdl }) => { supergraphSdl = coreSupergraphSdl; });
  const server = new ApolloServer({ gateway });
  try {
    const { url } = await startStandaloneServer(server, listen);
    const response = await fetch(url, {
      method: "POST",
      headers: { "content-type": "application/json" },
      body: JSON.stringify({ query }),
    });
    const result = await response.json();
    console.log(JSON.stringify({
      status: response.status, result, subgraphs,
      supergraphHasApprovedBy: /approvedBy: String @join__field\(graph: APPROVALS\)/.test(supergraphSdl),
    }));
  } finally {
    await server.stop();
    await subgraph.stop();
  }
}

main().catch((error) => {
  console.log(JSON.stringify({ error: String(error && error.stack ? error.stack : error) }));
  process.exit(1);
});
