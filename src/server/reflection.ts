/**
 * gRPC server reflection (grpc.reflection.v1 and v1alpha), served from the
 * descriptor set of proto/: grpcurl, Postman and friends list the services
 * and fetch their .proto descriptions without a copy of proto/.
 */
import { status, type Server, type ServerDuplexStream } from "@grpc/grpc-js";
import { toBinary, type DescFile } from "@bufbuild/protobuf";
import { FileDescriptorProtoSchema } from "@bufbuild/protobuf/wkt";
import {
  ServerReflectionService,
  type ServerReflectionRequest,
  type ServerReflectionResponse,
} from "../../gen/grpc/reflection/v1/reflection.js";
import { ServerReflectionService as ServerReflectionServiceV1Alpha } from "../../gen/grpc/reflection/v1alpha/reflection.js";
import { descriptorRegistry } from "../descriptors.js";

export const REFLECTION_SERVICE_NAMES = [
  "grpc.reflection.v1.ServerReflection",
  "grpc.reflection.v1alpha.ServerReflection",
] as const;

/** Serve reflection for `services` (full names; the reflection services themselves are added). */
export function addReflection(server: Server, services: readonly string[]): void {
  const answer = reflectionAnswers([...services, ...REFLECTION_SERVICE_NAMES]);
  const handler = (call: ServerDuplexStream<ServerReflectionRequest, ServerReflectionResponse>) => {
    call.on("data", (request: ServerReflectionRequest) => call.write(answer(request)));
    call.on("end", () => call.end());
    call.on("error", () => {}); // the client went away: nothing to answer
  };
  server.addService(ServerReflectionService, { serverReflectionInfo: handler });
  // v1alpha has the same messages under another package: the same bytes answer it.
  server.addService(ServerReflectionServiceV1Alpha, { serverReflectionInfo: handler });
}

/** One reflection request -> its response (pure: tests call it without a server). */
export function reflectionAnswers(
  services: readonly string[],
): (request: ServerReflectionRequest) => ServerReflectionResponse {
  const registry = descriptorRegistry();
  const fileBytes = new Map<DescFile, Buffer>();
  const bytesOf = (file: DescFile) => {
    let bytes = fileBytes.get(file);
    if (!bytes) fileBytes.set(file, (bytes = Buffer.from(toBinary(FileDescriptorProtoSchema, file.proto))));
    return bytes;
  };
  /** The file and everything it imports, the file first (what grpcurl needs to build its types). */
  const withImports = (file: DescFile): Buffer[] => {
    const seen = new Set<DescFile>();
    const visit = (f: DescFile) => {
      if (seen.has(f)) return;
      seen.add(f);
      f.dependencies.forEach(visit);
    };
    visit(file);
    return [...seen].map(bytesOf);
  };
  const fileOfSymbol = (symbol: string): DescFile | undefined => {
    const found = registry.get(symbol);
    if (found && "file" in found) return found.file;
    // A method ("pkg.Service.Method") or a field: its parent's file.
    const parent = symbol.slice(0, Math.max(0, symbol.lastIndexOf(".")));
    const owner = parent ? registry.get(parent) : undefined;
    return owner && "file" in owner ? owner.file : undefined;
  };
  const notFound = (what: string): ServerReflectionResponse["messageResponse"] => ({
    $case: "errorResponse",
    value: { errorCode: status.NOT_FOUND, errorMessage: `${what} not found` },
  });

  return (request) => {
    const asked = request.messageRequest;
    let messageResponse: ServerReflectionResponse["messageResponse"];
    switch (asked?.$case) {
      case "listServices":
        messageResponse = { $case: "listServicesResponse", value: { service: services.map((name) => ({ name })) } };
        break;
      case "fileByFilename": {
        const file = registry.getFile(asked.value);
        messageResponse = file
          ? { $case: "fileDescriptorResponse", value: { fileDescriptorProto: withImports(file) } }
          : notFound(`file ${asked.value}`);
        break;
      }
      case "fileContainingSymbol": {
        const file = fileOfSymbol(asked.value);
        messageResponse = file
          ? { $case: "fileDescriptorResponse", value: { fileDescriptorProto: withImports(file) } }
          : notFound(`symbol ${asked.value}`);
        break;
      }
      case "fileContainingExtension":
        // proto/ declares no extensions.
        messageResponse = notFound(`extension ${asked.value.extensionNumber} of ${asked.value.containingType}`);
        break;
      case "allExtensionNumbersOfType":
        messageResponse = registry.getMessage(asked.value)
          ? { $case: "allExtensionNumbersResponse", value: { baseTypeName: asked.value, extensionNumber: [] } }
          : notFound(`type ${asked.value}`);
        break;
      default:
        messageResponse = {
          $case: "errorResponse",
          value: { errorCode: status.UNIMPLEMENTED, errorMessage: "an empty or unknown reflection request" },
        };
    }
    return { validHost: request.host, originalRequest: request, messageResponse };
  };
}
