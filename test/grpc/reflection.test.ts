import { execFile } from "node:child_process";
import { existsSync, readFileSync } from "node:fs";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { promisify } from "node:util";
import * as grpc from "@grpc/grpc-js";
import * as protoLoader from "@grpc/proto-loader";
import { create, equals, fromBinary, toBinary } from "@bufbuild/protobuf";
import {
  FieldDescriptorProto_Label as Label,
  FieldDescriptorProto_Type as Type,
  FileDescriptorProtoSchema,
  FileDescriptorSetSchema,
} from "@bufbuild/protobuf/wkt";
import { HealthImplementation } from "grpc-health-check";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { addReflection } from "../../src/grpc/reflection.js";
import { EventServiceService } from "../../src/gen/ticketing/v1/event_service.js";

const root = fileURLToPath(new URL("../../", import.meta.url));
const grpcurlPath = path.join(root, ".tools/bin/grpcurl");
const descriptorSet = readFileSync(path.join(root, "src/gen/descriptors.binpb"));
const execFileAsync = promisify(execFile);

const REGISTERED = ["ticketing.v1.EventService", "grpc.health.v1.Health"];

/** A server with EventService (every method answers UNIMPLEMENTED), health and reflection. */
async function startServer(
  descriptors: Uint8Array,
  serviceNames: string[],
): Promise<{ server: grpc.Server; address: string }> {
  const server = new grpc.Server();
  const unimplemented = { code: grpc.status.UNIMPLEMENTED, details: "dummy handler" };
  const handlers: grpc.UntypedServiceImplementation = {};
  for (const [name, method] of Object.entries(EventServiceService)) {
    handlers[name] = method.responseStream
      ? (call: grpc.ServerWritableStream<unknown, unknown>) => call.emit("error", unimplemented)
      : (_call: unknown, callback: grpc.sendUnaryData<unknown>) => callback(unimplemented, null);
  }
  server.addService(EventServiceService, handlers);
  new HealthImplementation({ "": "SERVING" }).addToServer(server);
  addReflection(server, descriptors, serviceNames);
  const port = await new Promise<number>((resolve, reject) =>
    server.bindAsync("127.0.0.1:0", grpc.ServerCredentials.createInsecure(), (err, p) =>
      err ? reject(err) : resolve(p),
    ),
  );
  return { server, address: `127.0.0.1:${port}` };
}

function stopServer(server: grpc.Server | undefined): Promise<void> {
  return new Promise((resolve) => (server ? server.tryShutdown(() => resolve()) : resolve()));
}

interface GrpcurlResult {
  code: number;
  stdout: string;
  stderr: string;
}

/** Runs the real grpcurl; fails (never skips) when it has not been built. */
async function grpcurl(...args: string[]): Promise<GrpcurlResult> {
  if (!existsSync(grpcurlPath)) {
    throw new Error(`grpcurl is not installed at ${grpcurlPath}: run \`npm run tools\` to build it`);
  }
  try {
    const { stdout, stderr } = await execFileAsync(grpcurlPath, ["-plaintext", "-max-time", "10", ...args], {
      timeout: 15_000,
    });
    return { code: 0, stdout, stderr };
  } catch (err) {
    const e = err as { code?: unknown; stdout?: string; stderr?: string };
    if (typeof e.code !== "number") throw err; // spawn failure or timeout, not a grpcurl exit status
    return { code: e.code, stdout: e.stdout ?? "", stderr: e.stderr ?? "" };
  }
}

// ---------------------------------------------------------------------------
// A plain grpc-js reflection client, built from gRPC's own reflection protos
// (vendored verbatim in test/grpc/proto/; an implementation independent of the server's).

interface ReflectionRequest {
  host?: string;
  file_by_filename?: string;
  file_containing_symbol?: string;
  file_containing_extension?: { containing_type: string; extension_number: number };
  all_extension_numbers_of_type?: string;
  list_services?: string;
}

interface ReflectionResponse {
  valid_host: string;
  original_request: ReflectionRequest & { message_request?: string };
  message_response:
    "file_descriptor_response" | "all_extension_numbers_response" | "list_services_response" | "error_response";
  file_descriptor_response?: { file_descriptor_proto: Buffer[] };
  all_extension_numbers_response?: { base_type_name: string; extension_number: number[] };
  list_services_response?: { service: { name: string }[] };
  error_response?: { error_code: number; error_message: string };
}

type ReflectionClient = grpc.Client & {
  ServerReflectionInfo(): grpc.ClientDuplexStream<ReflectionRequest, ReflectionResponse>;
};

const reflectionProtoDir = fileURLToPath(new URL("./proto/", import.meta.url));
const reflectionPackage = grpc.loadPackageDefinition(
  protoLoader.loadSync(["grpc/reflection/v1/reflection.proto", "grpc/reflection/v1alpha/reflection.proto"], {
    includeDirs: [reflectionProtoDir],
    keepCase: true,
    oneofs: true,
    arrays: true,
  }),
);

/** Sends the requests on one ServerReflectionInfo stream and collects the responses. */
async function reflect(
  address: string,
  version: "v1" | "v1alpha",
  requests: ReflectionRequest[],
): Promise<ReflectionResponse[]> {
  const ns = (reflectionPackage.grpc as grpc.GrpcObject).reflection as grpc.GrpcObject;
  const Client = (ns[version] as grpc.GrpcObject).ServerReflection as grpc.ServiceClientConstructor;
  const client = new Client(address, grpc.credentials.createInsecure()) as unknown as ReflectionClient;
  try {
    return await new Promise<ReflectionResponse[]>((resolve, reject) => {
      const responses: ReflectionResponse[] = [];
      const call = client.ServerReflectionInfo();
      call.on("data", (r: ReflectionResponse) => responses.push(r));
      call.on("error", reject);
      call.on("end", () => resolve(responses));
      for (const r of requests) call.write(r);
      call.end();
    });
  } finally {
    client.close();
  }
}

function fileNames(response: ReflectionResponse | undefined): string[] {
  const files = response?.file_descriptor_response?.file_descriptor_proto ?? [];
  return files.map((bytes) => fromBinary(FileDescriptorProtoSchema, bytes).name);
}

// ---------------------------------------------------------------------------

describe("gRPC server reflection, seen by the real grpcurl", { timeout: 30_000 }, () => {
  let server: grpc.Server | undefined;
  let address = "";

  beforeAll(async () => {
    ({ server, address } = await startServer(descriptorSet, REGISTERED));
  });
  afterAll(() => stopServer(server));

  it("lists the registered services and the reflection services", async () => {
    const { code, stdout, stderr } = await grpcurl(address, "list");
    expect(stderr).toBe("");
    expect(code).toBe(0);
    expect(stdout.trim().split("\n").sort()).toEqual([
      "grpc.health.v1.Health",
      "grpc.reflection.v1.ServerReflection",
      "grpc.reflection.v1alpha.ServerReflection",
      "ticketing.v1.EventService",
    ]);
  });

  it("describes a service whose file imports other files, with its comments", async () => {
    const { code, stdout, stderr } = await grpcurl(address, "describe", "ticketing.v1.EventService");
    expect(stderr).toBe("");
    expect(code).toBe(0);
    expect(stdout).toContain("ticketing.v1.EventService is a service:");
    for (const method of [
      "CreateEvent",
      "GetEvent",
      "ListEvents",
      "OpenSale",
      "PauseSale",
      "CloseSale",
      "GetSeatMap",
    ]) {
      expect(stdout).toContain(`rpc ${method} ( .ticketing.v1.${method}Request )`);
    }
    expect(stdout).toContain("returns ( stream .ticketing.v1.WatchSeatMapResponse )");
    // Leading comments come from the descriptors' source info.
    expect(stdout).toContain("// Creates an event with its seat map");
  });

  it("describes messages, including ones referencing other files", async () => {
    const req = await grpcurl(address, "describe", "ticketing.v1.CreateEventRequest");
    expect(req.stderr).toBe("");
    expect(req.stdout).toContain("ticketing.v1.CreateEventRequest is a message:");
    expect(req.stdout).toContain("string request_id = 1;");
    expect(req.stdout).toContain(".ticketing.v1.Event event = 2;");

    const field = await grpcurl(address, "describe", "ticketing.v1.Event.start_time");
    expect(field.stdout).toContain(".google.protobuf.Timestamp start_time");

    const health = await grpcurl(address, "describe", ".grpc.health.v1.HealthCheckRequest");
    expect(health.stderr).toBe("");
    expect(health.stdout).toContain("grpc.health.v1.HealthCheckRequest is a message:");
    expect(health.stdout).toContain("string service = 1;");
  });

  it("describes everything at once, the reflection services included", async () => {
    const { code, stdout, stderr } = await grpcurl(address, "describe");
    expect(stderr).toBe("");
    expect(code).toBe(0);
    expect(stdout).toContain("grpc.reflection.v1.ServerReflection is a service:");
    expect(stdout).toContain(
      "rpc ServerReflectionInfo ( stream .grpc.reflection.v1alpha.ServerReflectionRequest ) returns ( stream .grpc.reflection.v1alpha.ServerReflectionResponse );",
    );
    expect(stdout).toContain("rpc Check ( .grpc.health.v1.HealthCheckRequest )");
  });

  it("invokes Health/Check", async () => {
    const { code, stdout, stderr } = await grpcurl(address, "grpc.health.v1.Health/Check");
    expect(stderr).toBe("");
    expect(code).toBe(0);
    expect(JSON.parse(stdout)).toEqual({ status: "SERVING" });
  });

  it("invokes a ticketing method with a JSON request using imported types", async () => {
    const { code, stderr } = await grpcurl(
      "-d",
      '{"request_id":"r-1","event":{"name":"Gig","start_time":"2030-01-01T20:00:00Z"}}',
      address,
      "ticketing.v1.EventService/CreateEvent",
    );
    expect(stderr).toContain("Code: Unimplemented");
    expect(stderr).toContain("dummy handler");
    expect(code).not.toBe(0);
  });

  it("reports unknown symbols", async () => {
    const { code, stderr } = await grpcurl(address, "describe", "ticketing.v1.NoSuchThing");
    expect(code).not.toBe(0);
    expect(stderr).toContain("ticketing.v1.NoSuchThing");
    expect(stderr).toContain("not found");
  });
});

describe("gRPC server reflection, seen by a grpc-js client", { timeout: 15_000 }, () => {
  let server: grpc.Server | undefined;
  let address = "";

  beforeAll(async () => {
    ({ server, address } = await startServer(descriptorSet, REGISTERED));
  });
  afterAll(() => stopServer(server));

  const originalFiles = new Map(fromBinary(FileDescriptorSetSchema, descriptorSet).file.map((f) => [f.name, f]));

  for (const version of ["v1", "v1alpha"] as const) {
    it(`answers every request kind (${version})`, async () => {
      const [list, symbol, method, nested, byName, noSymbol, noFile, noType, extNumbers, noExtension, empty] =
        await reflect(address, version, [
          { host: "example", list_services: "*" },
          { file_containing_symbol: "ticketing.v1.EventService" },
          { file_containing_symbol: "ticketing.v1.EventService.CreateEvent" },
          { file_containing_symbol: "grpc.health.v1.HealthCheckResponse.ServingStatus" },
          { file_by_filename: "google/rpc/status.proto" },
          { file_containing_symbol: "ticketing.v1.Nope" },
          { file_by_filename: "nope.proto" },
          { all_extension_numbers_of_type: "ticketing.v1.Nope" },
          { all_extension_numbers_of_type: "ticketing.v1.Event" },
          { file_containing_extension: { containing_type: "ticketing.v1.Event", extension_number: 1000 } },
          {},
        ]);

      expect(list?.valid_host).toBe("example");
      expect(list?.original_request.list_services).toBe("*");
      expect(list?.list_services_response?.service.map((s) => s.name).sort()).toEqual([
        "grpc.health.v1.Health",
        "grpc.reflection.v1.ServerReflection",
        "grpc.reflection.v1alpha.ServerReflection",
        "ticketing.v1.EventService",
      ]);

      // The file first, then its transitive imports; served as compiled, source info included.
      expect(fileNames(symbol)).toEqual([
        "ticketing/v1/event_service.proto",
        "google/protobuf/timestamp.proto",
        "ticketing/v1/common.proto",
      ]);
      for (const bytes of symbol?.file_descriptor_response?.file_descriptor_proto ?? []) {
        const served = fromBinary(FileDescriptorProtoSchema, bytes);
        const original = originalFiles.get(served.name);
        expect(original && equals(FileDescriptorProtoSchema, served, original)).toBe(true);
        expect(served.sourceCodeInfo?.location.length).toBeGreaterThan(0);
      }
      expect(fileNames(method)[0]).toBe("ticketing/v1/event_service.proto");
      expect(fileNames(nested)).toEqual(["grpc/health/v1/health.proto"]);
      expect(fileNames(byName)).toEqual(["google/rpc/status.proto", "google/protobuf/any.proto"]);

      for (const notFound of [noSymbol, noFile, noType, noExtension]) {
        expect(notFound?.message_response).toBe("error_response");
        expect(notFound?.error_response?.error_code).toBe(grpc.status.NOT_FOUND);
      }
      expect(noSymbol?.error_response?.error_message).toContain("ticketing.v1.Nope");
      expect(extNumbers?.all_extension_numbers_response).toEqual({
        base_type_name: "ticketing.v1.Event",
        extension_number: [],
      });
      expect(empty?.error_response?.error_code).toBe(grpc.status.INVALID_ARGUMENT);
    });
  }

  it("describes its own reflection protos", async () => {
    const [v1] = await reflect(address, "v1", [{ file_containing_symbol: "grpc.reflection.v1.ServerReflection" }]);
    const [file] = v1?.file_descriptor_response?.file_descriptor_proto ?? [];
    expect(file).toBeDefined();
    const proto = fromBinary(FileDescriptorProtoSchema, file!);
    expect(proto.name).toBe("grpc/reflection/v1/reflection.proto");
    expect(proto.service[0]?.method[0]).toMatchObject({
      name: "ServerReflectionInfo",
      inputType: ".grpc.reflection.v1.ServerReflectionRequest",
      clientStreaming: true,
      serverStreaming: true,
    });
  });
});

describe("gRPC server reflection of extensions", { timeout: 15_000 }, () => {
  // base.proto declares x.Base with an extension range; ext.proto extends it twice,
  // once at top level and once inside a message.
  const base = create(FileDescriptorProtoSchema, {
    name: "x/base.proto",
    package: "x",
    syntax: "proto2",
    messageType: [{ name: "Base", extensionRange: [{ start: 100, end: 200 }] }],
  });
  const ext = create(FileDescriptorProtoSchema, {
    name: "y/ext.proto",
    package: "y",
    syntax: "proto2",
    dependency: ["x/base.proto"],
    extension: [{ name: "top", number: 150, label: Label.OPTIONAL, type: Type.INT32, extendee: ".x.Base" }],
    messageType: [
      {
        name: "Holder",
        extension: [{ name: "nested", number: 120, label: Label.OPTIONAL, type: Type.STRING, extendee: ".x.Base" }],
      },
    ],
  });
  const set = toBinary(FileDescriptorSetSchema, create(FileDescriptorSetSchema, { file: [base, ext] }));

  let server: grpc.Server | undefined;
  let address = "";
  beforeAll(async () => {
    ({ server, address } = await startServer(set, []));
  });
  afterAll(() => stopServer(server));

  it("finds extensions by number and lists extension numbers", async () => {
    const [numbers, top, nested, bySymbol, missing] = await reflect(address, "v1", [
      { all_extension_numbers_of_type: ".x.Base" },
      { file_containing_extension: { containing_type: "x.Base", extension_number: 150 } },
      { file_containing_extension: { containing_type: "x.Base", extension_number: 120 } },
      { file_containing_symbol: "y.Holder.nested" },
      { file_containing_extension: { containing_type: "x.Base", extension_number: 151 } },
    ]);
    expect(numbers?.all_extension_numbers_response).toEqual({ base_type_name: "x.Base", extension_number: [120, 150] });
    expect(fileNames(top)).toEqual(["y/ext.proto", "x/base.proto"]);
    expect(fileNames(nested)).toEqual(["y/ext.proto", "x/base.proto"]);
    expect(fileNames(bySymbol)).toEqual(["y/ext.proto", "x/base.proto"]);
    expect(missing?.error_response?.error_code).toBe(grpc.status.NOT_FOUND);
  });

  it("refuses a descriptor set that lacks an imported file", () => {
    const incomplete = toBinary(FileDescriptorSetSchema, create(FileDescriptorSetSchema, { file: [ext] }));
    expect(() => addReflection(new grpc.Server(), incomplete, [])).toThrow(/imports x\/base\.proto/);
  });
});
