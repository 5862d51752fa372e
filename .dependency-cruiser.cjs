/**
 * Import boundaries, checked by `npm run check:imports` (dependency-cruiser) as part of `npm test`.
 * Every rule is an error. Type-only imports and `export ... from` count like any other import.
 *
 *   no-circular                 No import cycle among the modules under src/.
 *   domain-is-pure              src/domain imports only src/domain: no other layer, no node builtin,
 *                               no npm package. The rules of the queue stay free of I/O and libraries.
 *   engine-not-outer-layers     src/engine never imports the outer layers (server, storage, main.ts,
 *                               config.ts), generated code, or src/ids (ids reach the engine through
 *                               the IdSource port). It may import domain and, for now, cron.
 *   storage-engine-via-ports    Of the engine, src/storage may import only the ports it implements
 *                               and what they mention: engine/ports.ts, engine/records.ts,
 *                               engine/errors.ts.
 *   storage-not-server-or-gen   src/storage never imports the server or generated code.
 *   server-engine-via-facade    Of the engine, src/server may import only the facade
 *                               (engine/engine.ts), engine/api.ts and engine/errors.ts.
 *   server-not-storage          src/server never imports storage: it gets an Engine, not a Store.
 *   gen-only-from-server        Generated protobuf code (src/gen) is imported only by src/server and
 *                               src/main.ts (and by itself): the wire format stays at the edge.
 *   clients-not-src             clients/ never import src/: the published client stands alone.
 *   client-web-entry-no-node    The browser entry of the TypeScript client (web.ts) and what it
 *                               imports (clients.ts, errors.ts, watch.ts, generated code) never
 *                               import connect-node or a node builtin: a bundler would fail.
 *   not-to-unresolvable         Every import resolves to a file, builtin or package. This guards the
 *                               rules above: an import that failed to resolve would match none of
 *                               their paths and slip through unchecked.
 */
/** @type {import('dependency-cruiser').IConfiguration} */
module.exports = {
  forbidden: [
    {
      name: "no-circular",
      comment: "This import is part of a cycle among modules under src/.",
      severity: "error",
      from: { path: "^src/" },
      to: { circular: true },
    },
    {
      name: "domain-is-pure",
      comment: "src/domain imports only src/domain (no other layer, node builtin or npm package).",
      severity: "error",
      from: { path: "^src/domain/" },
      to: { pathNot: "^src/domain/" },
    },
    {
      name: "engine-not-outer-layers",
      comment:
        "src/engine must not import src/server, src/storage, src/gen, src/ids, src/main.ts or src/config.ts " +
        "(ids come in through the IdSource port).",
      severity: "error",
      from: { path: "^src/engine/" },
      to: { path: ["^src/(server|storage|gen|ids)/", "^src/(main|config)\\.ts$"] },
    },
    {
      name: "storage-engine-via-ports",
      comment: "Of the engine, src/storage may import only engine/ports.ts, engine/records.ts and engine/errors.ts.",
      severity: "error",
      from: { path: "^src/storage/" },
      to: { path: "^src/engine/", pathNot: "^src/engine/(ports|records|errors)\\.ts$" },
    },
    {
      name: "storage-not-server-or-gen",
      comment: "src/storage must not import src/server or src/gen.",
      severity: "error",
      from: { path: "^src/storage/" },
      to: { path: "^src/(server|gen)/" },
    },
    {
      name: "server-engine-via-facade",
      comment: "Of the engine, src/server may import only engine/engine.ts (the facade), engine/api.ts and engine/errors.ts.",
      severity: "error",
      from: { path: "^src/server/" },
      to: { path: "^src/engine/", pathNot: "^src/engine/(engine|api|errors)\\.ts$" },
    },
    {
      name: "server-not-storage",
      comment: "src/server must not import src/storage.",
      severity: "error",
      from: { path: "^src/server/" },
      to: { path: "^src/storage/" },
    },
    {
      name: "gen-only-from-server",
      comment: "Only src/server and src/main.ts import generated code (src/gen).",
      severity: "error",
      from: { path: "^src/", pathNot: "^src/(server/|gen/|main\\.ts$)" },
      to: { path: "^src/gen/" },
    },
    {
      name: "clients-not-src",
      comment: "clients/ must not import anything under src/.",
      severity: "error",
      from: { path: "^clients/" },
      to: { path: "^src/" },
    },
    {
      name: "client-web-entry-no-node",
      comment: "The client's browser entry (web.ts) and its imports must not reach connect-node or a node builtin.",
      severity: "error",
      from: { path: "^clients/typescript/src/(web|clients|errors|watch|generated)\\.ts$|^clients/typescript/src/gen/" },
      to: { path: ["@connectrpc/connect-node", "^clients/typescript/src/(client|index)\\.ts$", "^clients/typescript/src/worker/"], dependencyTypes: ["npm", "local"] },
    },
    {
      name: "client-web-entry-no-builtins",
      comment: "The client's browser entry (web.ts) and its imports must not import node builtins.",
      severity: "error",
      from: { path: "^clients/typescript/src/(web|clients|errors|watch|generated)\\.ts$|^clients/typescript/src/gen/" },
      to: { dependencyTypes: ["core"] },
    },
    {
      name: "ui-via-public-client",
      comment: "The dashboard (ui/) is a client of the public API: it imports the TypeScript client's browser entry and packages, never src/ or the Node entry.",
      severity: "error",
      from: { path: "^ui/" },
      to: { path: ["^src/", "@connectrpc/connect-node", "^clients/typescript/src/(client|index)\\.ts$", "^clients/typescript/src/worker/"], dependencyTypes: ["npm", "local"] },
    },
    {
      name: "ui-no-builtins",
      comment: "The dashboard runs in a browser: no node builtins.",
      severity: "error",
      from: { path: "^ui/" },
      to: { dependencyTypes: ["core"] },
    },
    {
      name: "nothing-imports-ui",
      comment: "The server serves the dashboard's built files (src/server/ui.ts); no code imports ui/.",
      severity: "error",
      from: { pathNot: "^ui/" },
      to: { path: "^ui/" },
    },
    {
      name: "not-to-unresolvable",
      comment: "This import does not resolve; boundary rules cannot check what they cannot see.",
      severity: "error",
      from: {},
      to: { couldNotResolve: true },
    },
  ],
  options: {
    // Packages are leaves: their own imports are not cruised.
    doNotFollow: { path: "(^|/)node_modules/" },
    // Keep type-only imports and re-exports: they are dependencies too.
    tsPreCompilationDeps: true,
    tsConfig: { fileName: "tsconfig.json" },
    enhancedResolveOptions: {
      exportsFields: ["exports"],
      conditionNames: ["import", "require", "node", "default", "types"],
      mainFields: ["module", "main", "types", "typings"],
    },
    detectProcessBuiltinModuleCalls: true,
    skipAnalysisNotInRules: true,
  },
};
