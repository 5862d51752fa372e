/**
 * Every generated message, enum and service descriptor of actionqueue.v1, plus the
 * google.rpc error details (ErrorInfo, BadRequest, QuotaFailure, …) and Status, for callers
 * that decode details themselves. Shared by the Node entry (index.ts) and the browser entry
 * (web.ts); the generated files themselves live in ./gen and are never edited.
 */
export * from "./gen/actionqueue/v1/admin_service_pb.js";
export * from "./gen/actionqueue/v1/errors_pb.js";
export * from "./gen/actionqueue/v1/run_pb.js";
export * from "./gen/actionqueue/v1/run_service_pb.js";
export * from "./gen/actionqueue/v1/task_pb.js";
export * from "./gen/actionqueue/v1/task_service_pb.js";
export * from "./gen/actionqueue/v1/worker_service_pb.js";
export * from "./gen/google/rpc/error_details_pb.js";
export * from "./gen/google/rpc/status_pb.js";
