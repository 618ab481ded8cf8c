// event create|list|show, sale open|pause|close, waiting-room set.
import { events } from "../../clients/typescript/src/index.js";
import {
  decodeError,
  describeRefusal,
  Failure,
  fields,
  intOption,
  money,
  positional,
  requestId,
  table,
  UsageError,
  unary,
  when,
  type Command,
  type Context,
} from "./common.js";
import { readVenueFile, VenueFileError } from "./venue-file.js";

const SALE_STATES: Record<number, string> = {
  [events.SaleState.SALE_STATE_SCHEDULED]: "SCHEDULED",
  [events.SaleState.SALE_STATE_OPEN]: "OPEN",
  [events.SaleState.SALE_STATE_PAUSED]: "PAUSED",
  [events.SaleState.SALE_STATE_CLOSED]: "CLOSED",
};
export const saleState = (s: events.SaleState) => SALE_STATES[s] ?? "UNSPECIFIED";

function printEvent(ctx: Context, e: events.Event): void {
  if (ctx.json) return ctx.out(JSON.stringify(events.Event.toJSON(e), null, 2) + "\n");
  const wr = e.waitingRoom;
  ctx.out(
    fields([
      ["event", e.eventId],
      ["name", e.name],
      ["venue", e.venue],
      ["sale", saleState(e.saleState)],
      ["starts", when(e.startTime)],
      ["sale window", `${when(e.saleOpenTime)} .. ${when(e.saleCloseTime)}`],
      ["capacity", e.capacity],
      ["currency", e.currencyCode],
      ["tickets per buyer", e.maxTicketsPerBuyer],
      [
        "waiting room",
        wr?.enabled
          ? `on: ${wr.admissionsPerSecond}/s, at most ${wr.maxShopping} shopping, sessions of ${wr.sessionSeconds} s`
          : "off",
      ],
      ["created", when(e.createTime)],
    ]),
  );
  if (e.priceCategories.length > 0) {
    ctx.out("\n");
    ctx.out(
      table(
        ["price category", "name", "price"],
        e.priceCategories.map((c) => [
          c.priceCategoryId,
          c.name,
          `${money(c.priceMinor, e.currencyMinorDigits)} ${e.currencyCode}`,
        ]),
      ),
    );
  }
  if (e.sections.length > 0) {
    ctx.out("\n");
    ctx.out(
      table(
        ["section", "name", "kind", "rows", "places"],
        e.sections.map((s) => {
          const l = s.layout;
          if (l?.$case === "generalAdmission") return [s.sectionId, s.name, "standing", "-", l.value.capacity];
          const rows = l?.$case === "reserved" ? l.value.rows : [];
          return [s.sectionId, s.name, "seated", rows.length, rows.reduce((n, r) => n + r.seatCount, 0)];
        }),
      ),
    );
  }
}

const create: Command = {
  name: "event create",
  args: "--file VENUE.yaml",
  summary: "create an event from a venue file",
  help: `The venue file is a CreateEventRequest in YAML, with the proto's field names
(examples/venues/theatre.yaml, examples/venues/stadium.yaml). It is checked
before anything is sent; every problem is reported with its line. Without a
request_id the file's hash is used, so creating the same file twice is
idempotent.`,
  options: { file: { type: "string", short: "f" } },
  async run(ctx) {
    const file = ctx.values.file as string | undefined;
    if (!file) throw new UsageError("missing --file VENUE.yaml");
    let venue;
    try {
      venue = readVenueFile(file);
    } catch (err) {
      if (err instanceof VenueFileError) {
        throw new Failure(
          `${file}: ${err.message}`,
          err.problems.map((p) => `  ${file}:${p.line}: ${p.path ? `${p.path}: ` : ""}${p.message}`),
        );
      }
      throw new Failure(`${file}: ${(err as Error).message}`);
    }
    try {
      const { event } = await unary(ctx.api().events, "createEvent", venue.request);
      printEvent(ctx, event!);
    } catch (err) {
      const e = decodeError(err);
      if (!e) throw err;
      // The server's field violations, each with the line it points at.
      const [head, ...rest] = describeRefusal(e, (field) => {
        const where = venue.locate(field);
        return where ? `${file}:${where.replace("line ", "")}` : undefined;
      });
      throw new Failure(head!, rest);
    }
  },
};

const list: Command = {
  name: "event list",
  args: "",
  summary: "list events, newest first",
  options: { limit: { type: "string" } },
  async run(ctx) {
    const limit = intOption(ctx, "limit") ?? 100;
    const all: events.Event[] = [];
    let pageToken = "";
    do {
      const page = await unary(ctx.api().events, "listEvents", {
        pageSize: Math.min(100, limit - all.length),
        pageToken,
      });
      all.push(...page.events);
      pageToken = page.nextPageToken;
    } while (pageToken && all.length < limit);
    if (ctx.json)
      return ctx.out(
        JSON.stringify(
          all.map((e) => events.Event.toJSON(e)),
          null,
          2,
        ) + "\n",
      );
    ctx.out(
      table(
        ["event", "name", "sale", "capacity", "waiting room", "created"],
        all.map((e) => [
          e.eventId,
          e.name,
          saleState(e.saleState),
          e.capacity,
          e.waitingRoom?.enabled ? `${e.waitingRoom.admissionsPerSecond}/s` : "off",
          when(e.createTime),
        ]),
      ),
    );
  },
};

const show: Command = {
  name: "event show",
  args: "EVENT_ID",
  summary: "an event with its prices, sections and waiting room",
  positionals: 1,
  async run(ctx) {
    const eventId = positional(ctx, 0, "EVENT_ID");
    const { event } = await unary(ctx.api().events, "getEvent", { eventId });
    printEvent(ctx, event!);
  },
};

function saleCommand(verb: "open" | "pause" | "close", summary: string): Command {
  return {
    name: `sale ${verb}`,
    args: "EVENT_ID",
    summary,
    positionals: 1,
    async run(ctx) {
      const eventId = positional(ctx, 0, "EVENT_ID");
      const method = ({ open: "openSale", pause: "pauseSale", close: "closeSale" } as const)[verb];
      const { event } = await unary(ctx.api().events, method, { eventId, requestId: requestId(verb) });
      if (ctx.json) return ctx.out(JSON.stringify(events.Event.toJSON(event!), null, 2) + "\n");
      ctx.out(`${event!.eventId}: sale ${saleState(event!.saleState)}\n`);
    },
  };
}

const waitingRoomSet: Command = {
  name: "waiting-room set",
  args: "EVENT_ID [--rate N] [--max-shopping N] [--session S]",
  summary: "change the waiting room's admission live (only the options given change)",
  help: `--rate N              buyers let in per second (1..10000)
--max-shopping N      most buyers shopping at once (1..1000000)
--session SECONDS     how long a buyer admitted from now on may shop (60..7200)
Every API process uses the new settings from its next admission step.`,
  options: { rate: { type: "string" }, "max-shopping": { type: "string" }, session: { type: "string" } },
  positionals: 1,
  async run(ctx) {
    const eventId = positional(ctx, 0, "EVENT_ID");
    const request = {
      eventId,
      requestId: requestId("wr"),
      admissionsPerSecond: intOption(ctx, "rate"),
      maxShopping: intOption(ctx, "max-shopping"),
      sessionSeconds: intOption(ctx, "session"),
    };
    if (
      request.admissionsPerSecond === undefined &&
      request.maxShopping === undefined &&
      request.sessionSeconds === undefined
    )
      throw new UsageError("give at least one of --rate, --max-shopping, --session");
    const { event } = await unary(ctx.api().events, "updateWaitingRoom", request);
    if (ctx.json) return ctx.out(JSON.stringify(events.Event.toJSON(event!), null, 2) + "\n");
    const wr = event!.waitingRoom!;
    ctx.out(
      `${event!.eventId}: waiting room ${wr.admissionsPerSecond}/s, at most ${wr.maxShopping} shopping, sessions of ${wr.sessionSeconds} s\n`,
    );
  },
};

export const eventCommands: Command[] = [
  create,
  list,
  show,
  saleCommand("open", "open the sale (holds are accepted)"),
  saleCommand("pause", "pause the sale (no new holds; checkouts go on)"),
  saleCommand("close", "close the sale for good"),
  waitingRoomSet,
];
