// A method a service does not implement yet answers UNIMPLEMENTED naming the
// issue that brings it, through the same pipeline as every call.
import { credentials, Server, ServerCredentials, status, type ServiceError } from "@grpc/grpc-js";
import { describe, expect, it } from "vitest";
import { bindService } from "../../src/grpc/bind.js";
import { decodeStatus } from "../../src/grpc/errors.js";
import { CallPipeline } from "../../src/grpc/handlers.js";
import { listen, shutdownServer } from "../../src/grpc/server.js";
import { TicketServiceClient, TicketServiceService } from "../../src/gen/ticketing/v1/ticket_service.js";
import { createLogger } from "../../src/logger.js";
import { Metrics } from "../../src/metrics.js";
import { authInterceptor, testAuthenticator } from "../support/identity.js";
import { call } from "../support/app.js";

describe("methods not built yet", () => {
  it("answer UNIMPLEMENTED with the issue that brings them", async () => {
    const pipeline = new CallPipeline({
      log: createLogger("silent", "t"),
      metrics: new Metrics(),
      auth: testAuthenticator(),
      publicReads: false,
    });
    const server = new Server();
    server.addService(
      TicketServiceService,
      bindService(
        pipeline,
        TicketServiceService,
        { verifyTicket: async () => ({}) },
        { pendingIssue: "issue #99, later" },
      ),
    );
    const port = await listen(server, "127.0.0.1:0", ServerCredentials.createInsecure());
    const client = new TicketServiceClient(`127.0.0.1:${port}`, credentials.createInsecure(), {
      interceptors: [authInterceptor],
    });
    try {
      expect(await call(client, client.verifyTicket, { code: "x" })).toEqual({});
      const err = decodeStatus(
        (await call(client, client.checkIn, { code: "x", gateId: "g", requestId: "r" }).catch(
          (e: ServiceError) => e,
        )) as ServiceError,
      );
      expect(err.code).toBe(status.UNIMPLEMENTED);
      expect(err.message).toBe("CheckIn is not implemented yet (issue #99, later)");
      expect(err.errorInfo?.reason).toBe("NOT_IMPLEMENTED");
    } finally {
      client.close();
      await shutdownServer(server, 1000);
    }
  });
});
