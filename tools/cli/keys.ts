// keys list|rotate|retire: the signing keys of admission tokens and ticket
// codes (GetSigningKeys, RotateSigningKey, RetireSigningKey).
import { queue } from "../../clients/typescript/src/index.js";
import { positional, table, unary, when, type Command, type Context } from "./common.js";

function printKeys(ctx: Context, keys: queue.SigningKey[]): void {
  if (ctx.json)
    return ctx.out(
      JSON.stringify(
        keys.map((k) => queue.SigningKey.toJSON(k)),
        null,
        2,
      ) + "\n",
    );
  ctx.out(
    table(
      ["kid", "purpose", "alg", "state", "retires"],
      keys.map((k) => [k.kid, k.purpose, k.alg, keyState(k), when(k.retireTime)]),
    ),
  );
}

function keyState(k: queue.SigningKey): string {
  if (!k.retireTime) return "signing";
  return k.retireTime.getTime() <= Date.now() ? "retired" : "retiring";
}

const list: Command = {
  name: "keys list",
  args: "",
  summary: "the signing keys of admission tokens and ticket codes",
  async run(ctx) {
    const { keys } = await unary(ctx.api().queue, "getSigningKeys", {});
    printKeys(ctx, keys);
  },
};

const rotate: Command = {
  name: "keys rotate",
  args: "admission|ticket",
  summary: "a new key signs from now on; tokens already out stay valid until they expire",
  help: `Other API processes and workers sign with it after their next key refresh
(SIGNING_KEY_REFRESH_MS). The previous keys verify until their retire time.
Ticket keys are made by a worker (only workers hold their key-encryption keys):
with no worker running, the call fails DEPENDENCY_UNAVAILABLE after 30 s.`,
  positionals: 1,
  async run(ctx) {
    const purpose = positional(ctx, 0, "PURPOSE");
    const { key } = await unary(ctx.api().queue, "rotateSigningKey", { purpose });
    printKeys(ctx, [key!]);
  },
};

const retire: Command = {
  name: "keys retire",
  args: "KID",
  summary: "retire a key now (a leaked key): every token it signed is refused",
  help: `This process refuses its tokens at once, every other after its next key
refresh (SIGNING_KEY_REFRESH_MS). A key that signs now is first replaced.`,
  positionals: 1,
  async run(ctx) {
    const kid = positional(ctx, 0, "KID");
    const { key, signingKey } = await unary(ctx.api().queue, "retireSigningKey", { kid });
    printKeys(ctx, [key!, signingKey!]);
  },
};

export const keyCommands: Command[] = [list, rotate, retire];
