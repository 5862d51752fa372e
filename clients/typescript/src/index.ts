/**
 * @actionqueue/client for Node.js: the generated actionqueue.v1 types and service
 * descriptors, `createClient(url, options)` (typed clients over gRPC, Connect or gRPC-Web),
 * the typed errors, `watchRuns` (a watch that resumes by itself) and the worker SDK
 * (`createWorker`). Browsers import `@actionqueue/client/web` instead.
 */
export * from "./generated.js";
export * from "./errors.js";
export { type ActionQueueClients, type TypedClientOptions, createActionQueueClients, createTypedClients, headersInterceptor } from "./clients.js";
export { type ClientOptions, type Protocol, type TlsOptions, createClient, createNodeTransport } from "./client.js";
export * from "./watch.js";
export * from "./worker/index.js";
