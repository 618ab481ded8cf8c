/**
 * gRPC server reflection (grpc.reflection.v1 and grpc.reflection.v1alpha),
 * answered from a complete, compiled FileDescriptorSet (`buf build` output).
 *
 * Why not `@grpc/reflection`: 1.0.4 rebuilds descriptors through protobufjs,
 * which renames files after their package and drops imports, so grpcurl fails
 * with "cannot resolve type" as soon as a service file imports another file
 * (grpc/grpc-node#3018). Here the FileDescriptorProtos are served byte-for-byte
 * as the compiler wrote them (source info and comments included), each with
 * its transitive imports, so any reflection client can rebuild them.
 */
import * as grpc from "@grpc/grpc-js";
import { create, createFileRegistry, fromBinary, toBinary, type DescMessage } from "@bufbuild/protobuf";
import { BinaryReader, WireType } from "@bufbuild/protobuf/wire";
import {
  FieldDescriptorProto_Label as Label,
  FieldDescriptorProto_Type as Type,
  FileDescriptorProtoSchema,
  type DescriptorProto,
  type EnumDescriptorProto,
  type FieldDescriptorProto,
  type FileDescriptorProto,
} from "@bufbuild/protobuf/wkt";

const REFLECTION_VERSIONS = ["v1", "v1alpha"] as const;
type ReflectionVersion = (typeof REFLECTION_VERSIONS)[number];

/** Adds grpc.reflection v1 and v1alpha to the server, answering from the given FileDescriptorSet bytes. */
export function addReflection(server: grpc.Server, descriptorSet: Uint8Array, serviceNames: string[]): void {
  const index = new DescriptorIndex(splitFileDescriptorSet(descriptorSet));
  const reflectionFiles = REFLECTION_VERSIONS.map((version) => ({ version, file: reflectionFileDescriptor(version) }));
  for (const { file } of reflectionFiles) index.addFallbackFile(file);
  const listed = [
    ...new Set([
      ...serviceNames.map(stripLeadingDot),
      ...REFLECTION_VERSIONS.map((v) => `grpc.reflection.${v}.ServerReflection`),
    ]),
  ];
  const responder = new ReflectionResponder(index, listed);
  for (const { version, file } of reflectionFiles) {
    const { definition, implementation } = reflectionService(version, file, responder);
    server.addService(definition, implementation);
  }
}

// ---------------------------------------------------------------------------
// Descriptor index

interface IndexedFile {
  readonly proto: FileDescriptorProto;
  /** The serialized FileDescriptorProto, exactly as given. */
  readonly bytes: Uint8Array;
}

/** Returns each serialized FileDescriptorProto (field 1) of a FileDescriptorSet, without re-encoding. */
function splitFileDescriptorSet(descriptorSet: Uint8Array): Uint8Array[] {
  const files: Uint8Array[] = [];
  const reader = new BinaryReader(descriptorSet);
  while (reader.pos < reader.len) {
    const [fieldNo, wireType] = reader.tag();
    if (fieldNo === 1 && wireType === WireType.LengthDelimited) {
      files.push(reader.bytes().slice());
    } else {
      reader.skip(wireType, fieldNo);
    }
  }
  return files;
}

class DescriptorIndex {
  private readonly files = new Map<string, IndexedFile>();
  /** Fully-qualified name (no leading dot) of every declared element -> name of the file declaring it. */
  private readonly symbols = new Map<string, string>();
  /** Fully-qualified message names. */
  private readonly messages = new Set<string>();
  /** Extended message (no leading dot) -> extension field number -> file declaring the extension. */
  private readonly extensions = new Map<string, Map<number, string>>();
  private readonly withDependencies = new Map<string, Uint8Array[]>();

  constructor(serializedFiles: Uint8Array[]) {
    for (const bytes of serializedFiles) {
      const proto = fromBinary(FileDescriptorProtoSchema, bytes);
      if (!this.files.has(proto.name)) this.add({ proto, bytes });
    }
    for (const { proto } of this.files.values()) {
      for (const dep of proto.dependency) {
        if (!this.files.has(dep)) {
          throw new Error(
            `reflection: descriptor set is incomplete: ${proto.name} imports ${dep}, which is not in it (build it with imports, e.g. \`buf build -o\`)`,
          );
        }
      }
    }
  }

  /** Adds a file unless the descriptor set already has a file of that name or declares any of its symbols. */
  addFallbackFile(proto: FileDescriptorProto): void {
    if (this.files.has(proto.name)) return;
    const scope = proto.package;
    const declared = [...proto.messageType, ...proto.enumType, ...proto.service].map((d) => qualify(scope, d.name));
    if (declared.some((name) => this.symbols.has(name))) return;
    this.add({ proto, bytes: toBinary(FileDescriptorProtoSchema, proto) });
  }

  hasMessage(name: string): boolean {
    return this.messages.has(name);
  }

  fileOfSymbol(name: string): string | undefined {
    return this.symbols.get(name);
  }

  hasFile(name: string): boolean {
    return this.files.has(name);
  }

  fileOfExtension(extendee: string, fieldNumber: number): string | undefined {
    return this.extensions.get(extendee)?.get(fieldNumber);
  }

  extensionNumbers(extendee: string): number[] {
    return [...(this.extensions.get(extendee)?.keys() ?? [])].sort((a, b) => a - b);
  }

  /** The serialized file first, then every file it imports, transitively (each once). */
  fileWithDependencies(name: string): Uint8Array[] {
    let result = this.withDependencies.get(name);
    if (!result) {
      const seen = new Set<string>();
      const out: Uint8Array[] = [];
      const visit = (fileName: string): void => {
        const file = this.files.get(fileName);
        if (!file || seen.has(fileName)) return;
        seen.add(fileName);
        out.push(file.bytes);
        for (const dep of file.proto.dependency) visit(dep);
      };
      visit(name);
      result = out;
      this.withDependencies.set(name, result);
    }
    return result;
  }

  private add(file: IndexedFile): void {
    const { proto } = file;
    this.files.set(proto.name, file);
    const symbol = (name: string): void => {
      if (!this.symbols.has(name)) this.symbols.set(name, proto.name);
    };
    const extension = (scope: string, ext: FieldDescriptorProto): void => {
      symbol(qualify(scope, ext.name));
      const extendee = stripLeadingDot(ext.extendee);
      let byNumber = this.extensions.get(extendee);
      if (!byNumber) this.extensions.set(extendee, (byNumber = new Map<number, string>()));
      if (!byNumber.has(ext.number)) byNumber.set(ext.number, proto.name);
    };
    const enumeration = (scope: string, e: EnumDescriptorProto): void => {
      symbol(qualify(scope, e.name));
      // Enum values are siblings of their enum (C++ scoping rules), as protoc resolves them.
      for (const value of e.value) symbol(qualify(scope, value.name));
    };
    const message = (scope: string, m: DescriptorProto): void => {
      const name = qualify(scope, m.name);
      symbol(name);
      this.messages.add(name);
      for (const field of m.field) symbol(qualify(name, field.name));
      for (const oneof of m.oneofDecl) symbol(qualify(name, oneof.name));
      for (const nested of m.nestedType) message(name, nested);
      for (const e of m.enumType) enumeration(name, e);
      for (const ext of m.extension) extension(name, ext);
    };

    const scope = proto.package;
    for (const m of proto.messageType) message(scope, m);
    for (const e of proto.enumType) enumeration(scope, e);
    for (const ext of proto.extension) extension(scope, ext);
    for (const service of proto.service) {
      const name = qualify(scope, service.name);
      symbol(name);
      for (const method of service.method) symbol(qualify(name, method.name));
    }
  }
}

function qualify(scope: string, name: string): string {
  return scope ? `${scope}.${name}` : name;
}

function stripLeadingDot(name: string): string {
  return name.startsWith(".") ? name.slice(1) : name;
}

// ---------------------------------------------------------------------------
// Request handling (identical for v1 and v1alpha: the messages have the same shape)

/** grpc.reflection.*.ServerReflectionRequest, as decoded by @bufbuild/protobuf. */
interface ReflectionRequest {
  host: string;
  messageRequest:
    | { case: "fileByFilename" | "fileContainingSymbol" | "allExtensionNumbersOfType" | "listServices"; value: string }
    | { case: "fileContainingExtension"; value: { containingType: string; extensionNumber: number } }
    | { case: undefined; value?: undefined };
}

type ReflectionResponseBody =
  | { case: "fileDescriptorResponse"; value: { fileDescriptorProto: Uint8Array[] } }
  | { case: "allExtensionNumbersResponse"; value: { baseTypeName: string; extensionNumber: number[] } }
  | { case: "listServicesResponse"; value: { service: { name: string }[] } }
  | { case: "errorResponse"; value: { errorCode: number; errorMessage: string } };

/** grpc.reflection.*.ServerReflectionResponse, as an init object for @bufbuild/protobuf's create(). */
interface ReflectionResponse {
  validHost: string;
  originalRequest: ReflectionRequest;
  messageResponse: ReflectionResponseBody;
}

class ReflectionResponder {
  constructor(
    private readonly index: DescriptorIndex,
    private readonly services: readonly string[],
  ) {}

  respond(request: ReflectionRequest): ReflectionResponse {
    return { validHost: request.host, originalRequest: request, messageResponse: this.body(request) };
  }

  private body({ messageRequest: req }: ReflectionRequest): ReflectionResponseBody {
    switch (req.case) {
      case "listServices":
        return { case: "listServicesResponse", value: { service: this.services.map((name) => ({ name })) } };
      case "fileByFilename":
        return this.index.hasFile(req.value) ? this.files(req.value) : notFound(`file not found: ${req.value}`);
      case "fileContainingSymbol": {
        const file = this.index.fileOfSymbol(stripLeadingDot(req.value));
        return file ? this.files(file) : notFound(`symbol not found: ${req.value}`);
      }
      case "fileContainingExtension": {
        const { containingType, extensionNumber } = req.value;
        const file = this.index.fileOfExtension(stripLeadingDot(containingType), extensionNumber);
        return file ? this.files(file) : notFound(`extension not found: ${containingType} field ${extensionNumber}`);
      }
      case "allExtensionNumbersOfType": {
        const type = stripLeadingDot(req.value);
        if (!this.index.hasMessage(type)) return notFound(`message type not found: ${req.value}`);
        return {
          case: "allExtensionNumbersResponse",
          value: { baseTypeName: type, extensionNumber: this.index.extensionNumbers(type) },
        };
      }
      default:
        return {
          case: "errorResponse",
          value: { errorCode: grpc.status.INVALID_ARGUMENT, errorMessage: "no message_request set" },
        };
    }
  }

  private files(fileName: string): ReflectionResponseBody {
    return {
      case: "fileDescriptorResponse",
      value: { fileDescriptorProto: this.index.fileWithDependencies(fileName) },
    };
  }
}

function notFound(errorMessage: string): ReflectionResponseBody {
  return { case: "errorResponse", value: { errorCode: grpc.status.NOT_FOUND, errorMessage } };
}

// ---------------------------------------------------------------------------
// The reflection services themselves

function reflectionService(
  version: ReflectionVersion,
  file: FileDescriptorProto,
  responder: ReflectionResponder,
): { definition: grpc.ServiceDefinition; implementation: grpc.UntypedServiceImplementation } {
  const pkg = `grpc.reflection.${version}`;
  const registry = createFileRegistry(file, () => undefined);
  const messageDesc = (name: string): DescMessage => {
    const desc = registry.getMessage(`${pkg}.${name}`);
    if (!desc) throw new Error(`reflection: ${pkg}.${name} missing from its own descriptor`);
    return desc;
  };
  const requestDesc = messageDesc("ServerReflectionRequest");
  const responseDesc = messageDesc("ServerReflectionResponse");
  const toBuffer = (bytes: Uint8Array): Buffer => Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength);

  const method: grpc.MethodDefinition<ReflectionRequest, ReflectionResponse> = {
    path: `/${pkg}.ServerReflection/ServerReflectionInfo`,
    requestStream: true,
    responseStream: true,
    originalName: "serverReflectionInfo",
    requestSerialize: (req) => toBuffer(toBinary(requestDesc, create(requestDesc, req as never))),
    requestDeserialize: (bytes) => fromBinary(requestDesc, bytes) as unknown as ReflectionRequest,
    responseSerialize: (res) => toBuffer(toBinary(responseDesc, create(responseDesc, res as never))),
    responseDeserialize: (bytes) => fromBinary(responseDesc, bytes) as unknown as ReflectionResponse,
  };

  const serverReflectionInfo: grpc.handleBidiStreamingCall<ReflectionRequest, ReflectionResponse> = (call) => {
    call.on("data", (request: ReflectionRequest) => {
      call.write(responder.respond(request));
    });
    call.on("end", () => call.end());
    call.on("error", () => {
      // The client went away (e.g. cancelled); grpc-js has already ended the call.
    });
  };

  return {
    definition: { ServerReflectionInfo: method },
    implementation: { ServerReflectionInfo: serverReflectionInfo },
  };
}

/**
 * FileDescriptorProto of grpc/reflection/{v1,v1alpha}/reflection.proto (both versions declare the
 * same messages), so that the reflection services can be described too and their messages encoded.
 */
function reflectionFileDescriptor(version: ReflectionVersion): FileDescriptorProto {
  const pkg = `grpc.reflection.${version}`;
  type FieldSpec = [name: string, number: number, type: Type | string, repeated?: "repeated", oneofIndex?: number];
  const field = ([name, number, type, repeated, oneofIndex]: FieldSpec) => ({
    name,
    number,
    label: repeated ? Label.REPEATED : Label.OPTIONAL,
    ...(typeof type === "string" ? { type: Type.MESSAGE, typeName: `.${pkg}.${type}` } : { type }),
    ...(oneofIndex === undefined ? {} : { oneofIndex }),
    jsonName: name.replace(/_([a-z])/g, (_, c: string) => c.toUpperCase()),
  });
  const message = (name: string, fields: FieldSpec[], oneofs: string[] = []) => ({
    name,
    field: fields.map(field),
    oneofDecl: oneofs.map((oneof) => ({ name: oneof })),
  });

  return create(FileDescriptorProtoSchema, {
    name: `grpc/reflection/${version}/reflection.proto`,
    package: pkg,
    syntax: "proto3",
    options: { goPackage: `google.golang.org/grpc/reflection/grpc_reflection_${version}` },
    messageType: [
      message(
        "ServerReflectionRequest",
        [
          ["host", 1, Type.STRING],
          ["file_by_filename", 3, Type.STRING, undefined, 0],
          ["file_containing_symbol", 4, Type.STRING, undefined, 0],
          ["file_containing_extension", 5, "ExtensionRequest", undefined, 0],
          ["all_extension_numbers_of_type", 6, Type.STRING, undefined, 0],
          ["list_services", 7, Type.STRING, undefined, 0],
        ],
        ["message_request"],
      ),
      message("ExtensionRequest", [
        ["containing_type", 1, Type.STRING],
        ["extension_number", 2, Type.INT32],
      ]),
      message(
        "ServerReflectionResponse",
        [
          ["valid_host", 1, Type.STRING],
          ["original_request", 2, "ServerReflectionRequest"],
          ["file_descriptor_response", 4, "FileDescriptorResponse", undefined, 0],
          ["all_extension_numbers_response", 5, "ExtensionNumberResponse", undefined, 0],
          ["list_services_response", 6, "ListServiceResponse", undefined, 0],
          ["error_response", 7, "ErrorResponse", undefined, 0],
        ],
        ["message_response"],
      ),
      message("FileDescriptorResponse", [["file_descriptor_proto", 1, Type.BYTES, "repeated"]]),
      message("ExtensionNumberResponse", [
        ["base_type_name", 1, Type.STRING],
        ["extension_number", 2, Type.INT32, "repeated"],
      ]),
      message("ListServiceResponse", [["service", 1, "ServiceResponse", "repeated"]]),
      message("ServiceResponse", [["name", 1, Type.STRING]]),
      message("ErrorResponse", [
        ["error_code", 1, Type.INT32],
        ["error_message", 2, Type.STRING],
      ]),
    ],
    service: [
      {
        name: "ServerReflection",
        method: [
          {
            name: "ServerReflectionInfo",
            inputType: `.${pkg}.ServerReflectionRequest`,
            outputType: `.${pkg}.ServerReflectionResponse`,
            clientStreaming: true,
            serverStreaming: true,
          },
        ],
      },
    ],
  });
}
