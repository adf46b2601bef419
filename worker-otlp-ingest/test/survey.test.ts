/**
 * VoiceMode's survey mode as its own transport (contract.json's fourth value, named by
 * migrations/0003): a report with survey sessions is accepted, stored under code a = 3
 * with its names in `report_cells`, counted by /v1/stats and drawn on the dashboard.
 */
import { beforeAll, describe, expect, it } from "vitest";
import { env } from "cloudflare:workers";
import { DURATION } from "../src/contract";
import { buildRequest, hourMs } from "./support/otlp";
import { cellsOf, exportResult, refresh, send, uuid } from "./support/worker";
import { get, parsePage } from "./support/dashboard";

const SURVEY = {
	duration: [
		{ transport: "survey", counts: [0, 1, 0, 0, 0, 0] },
		{ transport: "local", counts: [0, 0, 1, 0, 0, 0] },
	],
	exchanges: [
		{ transport: "survey", counts: [0, 1, 0, 0, 0] },
		{ transport: "local", counts: [0, 0, 1, 0, 0] },
	],
	providers: [
		{ role: "tts", name: "kokoro", value: 2 },
		{ role: "stt", name: "whisper-local", value: 2 },
	],
};
const IDS = Array.from({ length: 5 }, () => uuid());

beforeAll(async () => {
	const now = Date.now();
	for (const id of IDS) {
		const result = await exportResult(await send(buildRequest({ id, startMs: hourMs(now, 24), endMs: hourMs(now, 0), ...SURVEY })));
		expect(result).toEqual({});
	}
	await refresh();
});

describe("the survey transport", () => {
	it("is stored as code 3, the index contract.json gives it, and named by cell_names", async () => {
		const { results } = await env.DB.prepare("SELECT cells FROM reports WHERE telemetry_id = ?1").bind(IDS[0]).all<{ cells: string }>();
		expect(results.map((r) => JSON.parse(r.cells) as number[][])[0]).toEqual(
			expect.arrayContaining([
				[0, 3, 1, 1],
				[1, 3, 1, 1],
			]),
		);
		expect(await cellsOf(IDS[0] ?? "")).toEqual(
			expect.arrayContaining([
				{ metric: DURATION.name, transport: "survey", bin: "1-5min", sessions: 1 },
				{ metric: "voicemode.session.exchanges", transport: "survey", bin: "1-5", sessions: 1 },
			]),
		);
	});

	it("is counted by /v1/stats next to the other transports", async () => {
		const stats = (await (await get("/v1/stats?days=7")).json()) as { transport: Record<string, number> };
		expect(stats.transport).toEqual({ local: 5, survey: 5 });
	});

	it("has its own row on the dashboard's transport chart", async () => {
		const page = await parsePage(await (await get("/?days=7")).text());
		const transport = page.charts.find((c) => c.path[0] === "transport");
		expect(transport?.rows.map((r) => [r.key, r.count])).toEqual([
			["local", 5],
			["survey", 5],
		]);
		expect(transport?.bars).toEqual(["local", "survey"]);
	});
});
