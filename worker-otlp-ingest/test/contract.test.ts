import { env } from "cloudflare:workers";
import { describe, expect, it } from "vitest";
import raw from "../../voicemode_otel/contract.json";
import { CONTRACT, DURATION, EXCHANGES, allows, parseContract } from "../src/contract";
import { CELL_COLUMNS, cellNames } from "../src/db/cells";
import { RETENTION_CRON, ROLLUP_CRON } from "../src/jobs/cron";
import { DEFAULT_ESTABLISHED, establishedFrom } from "../src/db/established";
import { INSTALLATION_COLUMNS } from "../src/db/rows";
import wrangler from "../wrangler.jsonc?raw";

describe("contract.ts reads voicemode_otel/contract.json (the one copy)", () => {
	it("takes metric names, units, boundaries and bins from the file", () => {
		expect([...CONTRACT.metrics.keys()]).toEqual(Object.keys(raw.metrics));
		expect(DURATION.boundaries).toBe(raw.metrics["voicemode.session.duration"].boundaries);
		expect(DURATION.bins).toBe(raw.metrics["voicemode.session.duration"].bins);
		expect(EXCHANGES.boundaries).toBe(raw.metrics["voicemode.session.exchanges"].boundaries);
		expect(CONTRACT.scopeName).toBe(raw.scope.name);
		expect(CONTRACT.period.serverMaxSeconds).toBe(raw.period.server_max_seconds);
	});

	it("checks closed sets by membership and patterns as full matches", () => {
		const transport = CONTRACT.pointAttributes.get("voicemode.transport");
		const version = CONTRACT.resourceAttributes.get("service.version");
		if (!transport || !version) throw new Error("contract keys");
		expect(raw.point_attributes["voicemode.transport"].values.every((v) => allows(transport, v))).toBe(true);
		expect(allows(transport, "Local")).toBe(false);
		expect(allows(version, "8.12.0")).toBe(true);
		expect(allows(version, "8.12.0rc1.dev3")).toBe(true);
		expect(allows(version, "x8.12.0")).toBe(false);
		expect(allows(version, "8.12.0+local")).toBe(false);
	});

	it("refuses a histogram whose bins do not match its boundaries", () => {
		const broken = structuredClone(raw);
		broken.metrics["voicemode.session.duration"].bins.pop();
		expect(() => parseContract(broken)).toThrow("voicemode.session.duration is not a well-formed histogram or counter");
	});

	it("has an installations column for every optional resource attribute", () => {
		const optional = Object.keys(raw.resource.attributes).filter((k) => !raw.resource.required.includes(k));
		expect(Object.keys(INSTALLATION_COLUMNS).sort()).toEqual(optional.sort());
	});

	it("has a report_cells column for every point attribute", () => {
		expect(Object.keys(CELL_COLUMNS).sort()).toEqual(Object.keys(raw.point_attributes).sort());
	});

	it("matches the migrated schema: those columns exist in D1", async () => {
		const columns = async (table: string) =>
			(await env.DB.prepare("SELECT name FROM pragma_table_info(?1)").bind(table).all<{ name: string }>()).results.map((r) => r.name);
		expect(await columns("installations")).toEqual(expect.arrayContaining(Object.values(INSTALLATION_COLUMNS)));
		expect(await columns("report_cells")).toEqual(expect.arrayContaining([...Object.values(CELL_COLUMNS), "metric", "bin", "sessions"]));
	});

	it("matches the migrated cell_names table: every stored cell code decodes to the contract's names", async () => {
		const { results } = await env.DB.prepare("SELECT * FROM cell_names ORDER BY m, a, b").all();
		expect(results).toEqual(cellNames());
		// Every combination of the contract's lists, straight from contract.json.
		const transports = raw.point_attributes["voicemode.transport"].values.length;
		const providers = raw.point_attributes["voicemode.provider.name"].values.length * raw.point_attributes["voicemode.provider.role"].values.length;
		const bins = raw.metrics["voicemode.session.duration"].bins.length + raw.metrics["voicemode.session.exchanges"].bins.length;
		expect(results).toHaveLength(transports * bins + providers);
	});

	it("ships the establishment rule src/db/established.ts documents (the tests' binding relaxes it)", () => {
		const shipped = /"STATS_ESTABLISHED":\s*"([^"]+)"/.exec(wrangler)?.[1];
		expect(establishedFrom(shipped)).toEqual(DEFAULT_ESTABLISHED);
		expect(DEFAULT_ESTABLISHED).toEqual({ days: 3, spanDays: 7 });
		expect(establishedFrom("nonsense")).toEqual(DEFAULT_ESTABLISHED);
		expect(establishedFrom("0/0")).toEqual(DEFAULT_ESTABLISHED);
		expect(establishedFrom("1/0")).toEqual({ days: 1, spanDays: 0 });
	});

	it("schedules the cron strings src/jobs/cron.ts dispatches on", () => {
		const crons = /"crons":\s*\[([^\]]*)\]/.exec(wrangler)?.[1];
		expect(JSON.parse(`[${crons ?? ""}]`)).toEqual([ROLLUP_CRON, RETENTION_CRON]);
	});
});
