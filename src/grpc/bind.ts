// Turns a plain object of async functions into a grpc-js service
// implementation, routing every call through the CallPipeline. Methods the
// object lacks answer UNIMPLEMENTED, naming the issue that will bring them.
import type { ServiceDefinition, UntypedServiceImplementation } from "@grpc/grpc-js";
import { notImplemented } from "../domain/errors.js";
import type { Access, CallPipeline, StreamHandler, UnaryHandler } from "./handlers.js";

type RequestOf<M> = M extends { requestDeserialize: (b: Buffer) => infer R } ? R : never;
type ResponseOf<M> = M extends { responseDeserialize: (b: Buffer) => infer R } ? R : never;

/** The async functions of one service, keyed like its generated definition. */
export type ServiceHandlers<D> = {
  [K in keyof D]?: D[K] extends { responseStream: true }
    ? StreamHandler<RequestOf<D[K]>, ResponseOf<D[K]>>
    : UnaryHandler<RequestOf<D[K]>, ResponseOf<D[K]>>;
};

export interface BindOptions<D> {
  /** Who may call each method; unnamed methods take any verified caller (handlers check ownership). */
  access?: { [K in keyof D]?: Access };
  /** Which issue brings the methods not implemented yet. */
  pendingIssue?: string;
}

export function bindService<D extends ServiceDefinition>(
  pipeline: CallPipeline,
  definition: D,
  handlers: ServiceHandlers<D>,
  options: BindOptions<D> = {},
): UntypedServiceImplementation {
  const implementation: UntypedServiceImplementation = {};
  for (const [name, method] of Object.entries(definition)) {
    const policy = { access: options.access?.[name] ?? "caller" };
    const given = (handlers as Record<string, unknown>)[name];
    const rpcName = method.path.slice(method.path.lastIndexOf("/") + 1);
    const missing = () => Promise.reject(notImplemented(rpcName, options.pendingIssue ?? "a later issue"));
    if (method.responseStream) {
      const handler = (given ?? missing) as StreamHandler<unknown, unknown>;
      implementation[name] = pipeline.serverStream(method.path, handler, policy);
    } else {
      const handler = (given ?? missing) as UnaryHandler<unknown, unknown>;
      implementation[name] = pipeline.unary(method.path, handler, policy);
    }
  }
  return implementation;
}
