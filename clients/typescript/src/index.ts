/**
 * ActionQueue client: the generated service descriptors and message types, plus a factory
 * that builds one Connect client per service over any transport (connect-node's gRPC,
 * gRPC-Web or Connect transports, or connect-web in a browser).
 */
import { type Client, type Transport, createClient } from "@connectrpc/connect";
import { AdminService } from "./gen/actionqueue/v1/admin_service_pb.js";
import { RunService } from "./gen/actionqueue/v1/run_service_pb.js";
import { TaskService } from "./gen/actionqueue/v1/task_service_pb.js";
import { WorkerService } from "./gen/actionqueue/v1/worker_service_pb.js";

export * from "./gen/actionqueue/v1/admin_service_pb.js";
export * from "./gen/actionqueue/v1/errors_pb.js";
export * from "./gen/actionqueue/v1/run_pb.js";
export * from "./gen/actionqueue/v1/run_service_pb.js";
export * from "./gen/actionqueue/v1/task_pb.js";
export * from "./gen/actionqueue/v1/task_service_pb.js";
export * from "./gen/actionqueue/v1/worker_service_pb.js";

/** One client per ActionQueue service, sharing a transport. */
export interface ActionQueueClients {
  readonly tasks: Client<typeof TaskService>;
  readonly runs: Client<typeof RunService>;
  readonly workers: Client<typeof WorkerService>;
  readonly admin: Client<typeof AdminService>;
}

/** Builds the four service clients over `transport`. */
export function createActionQueueClients(transport: Transport): ActionQueueClients {
  return {
    tasks: createClient(TaskService, transport),
    runs: createClient(RunService, transport),
    workers: createClient(WorkerService, transport),
    admin: createClient(AdminService, transport),
  };
}
