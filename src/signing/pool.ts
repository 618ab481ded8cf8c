// Batch signing: callers ask for one signature each; requests made in the
// same tick (up to maxBatch) go to a Piscina worker as one task. Without a
// pool ("inline"), the same batches are signed on the calling thread.
import { extname } from "node:path";
import { fileURLToPath } from "node:url";
import { Piscina } from "piscina";
import { signBatch, type SignBatch } from "./sign-worker.js";

export interface SigningPoolOptions {
  /** Worker threads; 0 signs inline on the event loop (the benchmark's baseline). */
  threads: number;
  /** Most signatures per task (default 256); 1 is the benchmark's one-task-per-signature baseline. */
  maxBatch?: number;
}

interface Pending {
  kid: string;
  input: string;
  resolve: (signature: string) => void;
  reject: (err: unknown) => void;
}

const DEFAULT_MAX_BATCH = 256;

// The worker file next to this one, with this module's own extension: .ts
// under tsx (dev, tests; workers inherit the tsx loader), .js from dist/.
const WORKER_FILE = fileURLToPath(new URL(`./sign-worker${extname(fileURLToPath(import.meta.url))}`, import.meta.url));

/**
 * A .ts worker needs the tsx loader: inherited under `node --import tsx`, added
 * here when the process was started otherwise (vitest transforms in-process).
 */
function workerExecArgv(): string[] {
  const argv = process.execArgv;
  if (
    !WORKER_FILE.endsWith(".ts") ||
    argv.some((a, i) => /tsx/.test(a) && (i === 0 || argv[i - 1] === "--import" || a.startsWith("--import")))
  ) {
    return argv;
  }
  return [...argv, "--import", "tsx"];
}

export class SigningPool {
  private readonly piscina: Piscina | undefined;
  private queue: Pending[] = [];
  private keys: Record<string, string> = {};
  private scheduled = false;
  private closed = false;
  /** Batches sent and signatures made (for tests and metrics). */
  readonly stats = { batches: 0, signatures: 0 };
  private readonly maxBatch: number;

  constructor(options: SigningPoolOptions) {
    this.maxBatch = Math.max(1, options.maxBatch ?? DEFAULT_MAX_BATCH);
    if (options.threads > 0) {
      this.piscina = new Piscina({
        filename: WORKER_FILE,
        minThreads: options.threads,
        maxThreads: options.threads,
        idleTimeout: 60_000,
        execArgv: workerExecArgv(),
      });
    }
  }

  get threads(): number {
    return this.piscina?.threads.length ?? 0;
  }

  /** Signs `input` with the key `kid` (PKCS#8 PEM); resolves to the base64url signature. */
  sign(kid: string, privatePem: string, input: string): Promise<string> {
    if (this.closed) return Promise.reject(new Error("signing pool is closed"));
    return new Promise((resolve, reject) => {
      this.keys[kid] = privatePem;
      this.queue.push({ kid, input, resolve, reject });
      if (this.queue.length >= this.maxBatch) this.flush();
      else if (!this.scheduled) {
        this.scheduled = true;
        setImmediate(() => this.flush());
      }
    });
  }

  async close(): Promise<void> {
    this.closed = true;
    this.flush();
    await this.piscina?.close();
  }

  private flush(): void {
    this.scheduled = false;
    while (this.queue.length > 0) {
      const items = this.queue.splice(0, this.maxBatch);
      const batch: SignBatch = { keys: {}, items: items.map(({ kid, input }) => ({ kid, input })) };
      for (const { kid } of items) batch.keys[kid] = this.keys[kid]!;
      this.stats.batches++;
      this.stats.signatures += items.length;
      const done = this.piscina
        ? (this.piscina.run(batch) as Promise<string[]>)
        : Promise.resolve().then(() => signBatch(batch));
      done.then(
        (signatures) => items.forEach((p, i) => p.resolve(signatures[i]!)),
        (err: unknown) => items.forEach((p) => p.reject(err)),
      );
    }
    this.keys = {};
  }
}
