/**
 * gRPC server reflection, v1 and v1alpha (the same protocol under two package names), so
 * grpcurl and buf curl work with no proto files. Answers come from the descriptors embedded
 * in the generated code: list_services, file_by_filename and file_containing_symbol return
 * the file with all its transitive dependencies; extension queries answer with what exists
 * (our files declare no extensions).
 */
import { type DescFile, type DescService, create, toBinary } from "@bufbuild/protobuf";
import { FileDescriptorProtoSchema } from "@bufbuild/protobuf/wkt";
import { Code, type ServiceImpl } from "@connectrpc/connect";
import { file_google_rpc_error_details } from "../gen/google/rpc/error_details_pb.js";
import { file_google_rpc_status } from "../gen/google/rpc/status_pb.js";
import * as v1 from "../gen/grpc/reflection/v1/reflection_pb.js";
import * as v1alpha from "../gen/grpc/reflection/v1alpha/reflection_pb.js";

/** Lookup tables over a set of files and their dependencies. */
class DescriptorIndex {
  readonly byFile = new Map<string, DescFile>();
  readonly bySymbol = new Map<string, DescFile>();
  readonly messages = new Set<string>();
  readonly services: string[];
  readonly #bytes = new Map<string, Uint8Array>();

  constructor(services: readonly DescService[], extraFiles: readonly DescFile[]) {
    this.services = services.map((s) => s.typeName).sort();
    const visit = (f: DescFile) => {
      if (this.byFile.has(f.proto.name)) return;
      this.byFile.set(f.proto.name, f);
      for (const d of f.dependencies) visit(d);
      for (const m of f.messages) this.#message(m, f);
      for (const e of f.enums) this.bySymbol.set(e.typeName, f);
      for (const s of f.services) {
        this.bySymbol.set(s.typeName, f);
        for (const method of s.methods) this.bySymbol.set(`${s.typeName}.${method.name}`, f);
      }
      for (const x of f.extensions) this.bySymbol.set(x.typeName, f);
    };
    for (const s of services) visit(s.file);
    for (const f of extraFiles) visit(f);
  }

  #message(m: DescFile["messages"][number], f: DescFile): void {
    this.bySymbol.set(m.typeName, f);
    this.messages.add(m.typeName);
    for (const n of m.nestedMessages) this.#message(n, f);
    for (const e of m.nestedEnums) this.bySymbol.set(e.typeName, f);
    for (const x of m.nestedExtensions) this.bySymbol.set(x.typeName, f);
  }

  /** Serialized descriptors of `file` and every file it depends on, the file first. */
  withDependencies(file: DescFile): Uint8Array[] {
    const out: Uint8Array[] = [];
    const seen = new Set<string>();
    const visit = (f: DescFile) => {
      if (seen.has(f.proto.name)) return;
      seen.add(f.proto.name);
      let b = this.#bytes.get(f.proto.name);
      if (!b) {
        b = toBinary(FileDescriptorProtoSchema, f.proto);
        this.#bytes.set(f.proto.name, b);
      }
      out.push(b);
      for (const d of f.dependencies) visit(d);
    };
    visit(file);
    return out;
  }
}

type Answer =
  | { case: "fileDescriptorResponse"; value: { fileDescriptorProto: Uint8Array[] } }
  | { case: "listServicesResponse"; value: { service: Array<{ name: string }> } }
  | { case: "allExtensionNumbersResponse"; value: { baseTypeName: string; extensionNumber: number[] } }
  | { case: "errorResponse"; value: { errorCode: number; errorMessage: string } };

type Question =
  | { case: "fileByFilename"; value: string }
  | { case: "fileContainingSymbol"; value: string }
  | { case: "fileContainingExtension"; value: { containingType: string; extensionNumber: number } }
  | { case: "allExtensionNumbersOfType"; value: string }
  | { case: "listServices"; value: string }
  | { case: undefined; value?: undefined };

function answer(index: DescriptorIndex, q: Question): Answer {
  const notFound = (what: string): Answer => ({ case: "errorResponse", value: { errorCode: Code.NotFound, errorMessage: `${what} not found` } });
  switch (q.case) {
    case "listServices":
      return { case: "listServicesResponse", value: { service: index.services.map((name) => ({ name })) } };
    case "fileByFilename": {
      const f = index.byFile.get(q.value);
      return f ? { case: "fileDescriptorResponse", value: { fileDescriptorProto: index.withDependencies(f) } } : notFound(`file ${q.value}`);
    }
    case "fileContainingSymbol": {
      const f = index.bySymbol.get(q.value.replace(/^\./, ""));
      return f ? { case: "fileDescriptorResponse", value: { fileDescriptorProto: index.withDependencies(f) } } : notFound(`symbol ${q.value}`);
    }
    case "fileContainingExtension":
      return notFound(`extension ${q.value.extensionNumber} of ${q.value.containingType}`);
    case "allExtensionNumbersOfType":
      return index.messages.has(q.value)
        ? { case: "allExtensionNumbersResponse", value: { baseTypeName: q.value, extensionNumber: [] } }
        : notFound(`type ${q.value}`);
    default:
      return { case: "errorResponse", value: { errorCode: Code.InvalidArgument, errorMessage: "empty reflection request" } };
  }
}

/** Files served besides those of the services: the error details clients decode. */
const EXTRA_FILES: readonly DescFile[] = [file_google_rpc_error_details, file_google_rpc_status];

/** The v1 reflection service over `services` (which should include itself and health). */
export function reflectionV1(services: readonly DescService[]): ServiceImpl<typeof v1.ServerReflection> {
  const index = new DescriptorIndex(services, EXTRA_FILES);
  return {
    async *serverReflectionInfo(requests) {
      for await (const req of requests) {
        yield create(v1.ServerReflectionResponseSchema, {
          validHost: req.host,
          originalRequest: req,
          messageResponse: answer(index, req.messageRequest as Question),
        });
      }
    },
  };
}

/** The v1alpha reflection service (older clients, grpcurl's first try). */
export function reflectionV1alpha(services: readonly DescService[]): ServiceImpl<typeof v1alpha.ServerReflection> {
  const index = new DescriptorIndex(services, EXTRA_FILES);
  return {
    async *serverReflectionInfo(requests) {
      for await (const req of requests) {
        yield create(v1alpha.ServerReflectionResponseSchema, {
          validHost: req.host,
          originalRequest: req,
          messageResponse: answer(index, req.messageRequest as Question),
        });
      }
    },
  };
}
