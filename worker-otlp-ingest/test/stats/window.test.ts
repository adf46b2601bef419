import { env, exports } from "cloudflare:workers";
import { beforeAll, describe, expect, it } from "vitest";
import worker from "../../src/index";
import { computeStats } from "../../src/stats/window";
import type { Aggregates, Stats } from "../../src/stats/window";
import { DAY_MS, buildRequest, hourMs, resourceAttrs } from "../support/otlp";
import { determined } from "../support/derivation";
import { liveAggregates } from "../support/live-stats";
import { attackOnStats } from "../support/stats-relations";
import { exportResult, refresh, send, uuid } from "../support/worker";

const DURATION = "voicemode.session.duration";
const EXCHANGES = "voicemode.session.exchanges";
const PROVIDERS = "voicemode.session.providers";

/** This file's D1: 5 typical installations, 1 rare one (alone in its cells), 5 with a report from 40 days ago. */
beforeAll(async () => {
	const now = Date.now();
	const recent = { startMs: hourMs(now, 24), endMs: hourMs(now, 0) };
	for (let i = 0; i < 5; i++) expect(await exportResult(await send(buildRequest({ id: uuid(), ...recent })))).toEqual({});
	const rare = uuid();
	await send(
		buildRequest({
			id: rare,
			...recent,
			resource: { ...resourceAttrs(rare), "os.type": "darwin" },
			duration: [{ transport: "local", counts: [0, 0, 0, 0, 0, 1] }],
			exchanges: [{ transport: "local", counts: [0, 0, 0, 0, 1] }],
			providers: [{ role: "tts", name: "mlx-audio", value: 1 }],
		}),
	);
	const old = { startMs: hourMs(now, 0) - 40 * DAY_MS - 24 * 3_600_000, endMs: hourMs(now, 0) - 40 * DAY_MS };
	for (let i = 0; i < 5; i++) {
		await send(
			buildRequest({
				id: uuid(),
				...old,
				duration: [{ transport: "unknown", counts: [0, 0, 0, 0, 1, 0] }],
				exchanges: [{ transport: "unknown", counts: [0, 0, 0, 1, 0] }],
				providers: [{ role: "stt", name: "local", value: 1 }],
			}),
		);
	}
	await refresh();
});

async function stats(query = "", minInstallations?: string): Promise<Response> {
	const url = `https://ingest.test/v1/stats${query}`;
	if (minInstallations === undefined) return exports.default.fetch(url);
	return worker.fetch(new Request(url), { ...env, STATS_MIN_INSTALLATIONS: minInstallations });
}

describe("GET /v1/stats", () => {
	it("shows the last 30 days with every cell backed by fewer than 5 installations omitted", async () => {
		const res = await stats();
		expect(res.status).toBe(200);
		expect(res.headers.get("Content-Type")).toBe("application/json");
		expect(await res.json()).toEqual({
			days: 30,
			as_of: expect.stringMatching(/^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ$/),
			installations: 6,
			reports: 6,
			metrics: {
				// The rare installation's one >60min session is withheld (1 installation), and so is
				// one more bin (1-5min, the first of the smallest): otherwise the 26 sessions the
				// transports add up to, minus the bins shown, would give it away.
				[DURATION]: { bins: { "<1min": 10, "5-10min": 5, "10-20min": 5 } },
				// The rare installation's >20 session joins 5 others there, so it shows.
				[EXCHANGES]: { bins: { "1-5": 15, "6-10": 5, ">20": 6 } },
				// Its mlx-audio session is withheld, and openai with it (26 sessions - 20 - 5 = 1).
				[PROVIDERS]: { tts: { kokoro: 20 }, stt: { "whisper-local": 25 } },
			},
			transport: { local: 21, livekit: 5 },
			environment: {
				"service.version": { "8.12.0": 6 },
				// 6 installations - 5 on linux would be the one on darwin: neither is shown.
				"os.type": {},
				"voicemode.install.method": { "uv-tool": 6 },
				"voicemode.mcp.host": { "claude-code": 6 },
				"voicemode.exec.source": { mcp: 6 },
			},
		});
	});

	it.each([7, 30, 90])("publishes no number from which a withheld one follows (days=%i, threshold 5)", async (days) => {
		const body = (await (await stats(`?days=${days}`)).json()) as Stats;
		const attack = attackOnStats(await liveAggregates(Math.floor(Date.now() / 1000) - days * 86_400), body);
		// The session total may follow (it is only unpublished, not small); no withheld cell may.
		expect([...determined(attack.unknowns, attack.relations)].filter((c) => c !== "sessions")).toEqual([]);
	});

	it("lists bins, providers and transports in contract order", async () => {
		const text = await (await stats("", "1")).text();
		const order = ['"<1min"', '"1-5min"', '"5-10min"', '"10-20min"', '">60min"', '"openai"', '"kokoro"', '"mlx-audio"', '"local":21', '"livekit"'];
		const positions = order.map((key) => text.indexOf(key));
		expect(positions.every((p) => p >= 0)).toBe(true);
		expect(positions).toEqual([...positions].sort((a, b) => a - b));
	});

	it("widens the window with days=90 to include the reports from 40 days ago", async () => {
		const body = (await (await stats("?days=90")).json()) as Record<string, unknown>;
		expect(body).toMatchObject({
			days: 90,
			installations: 11,
			reports: 11,
			metrics: {
				[DURATION]: { bins: { "<1min": 10, "5-10min": 5, "10-20min": 5, "20-60min": 5 } },
				[PROVIDERS]: { tts: { kokoro: 20 }, stt: { "whisper-local": 25, local: 5 } },
			},
			transport: { local: 21, livekit: 5, unknown: 5 },
		});
	});

	it("shows every cell when STATS_MIN_INSTALLATIONS is 1", async () => {
		const body = (await (await stats("", "1")).json()) as { metrics: Record<string, unknown>; environment: Record<string, unknown> };
		expect(body.metrics[DURATION]).toEqual({ bins: { "<1min": 10, "1-5min": 5, "5-10min": 5, "10-20min": 5, ">60min": 1 } });
		expect(body.metrics[PROVIDERS]).toEqual({ tts: { openai: 5, kokoro: 20, "mlx-audio": 1 }, stt: { "whisper-local": 25 } });
		expect(body.environment["os.type"]).toEqual({ linux: 5, darwin: 1 });
	});

	it.each(["?days=0", "?days=91", "?days=abc", "?days=1.5", "?days=-3", "?days="])("answers 400 for %s", async (query) => {
		const res = await stats(query);
		expect(res.status).toBe(400);
		expect(await res.json()).toEqual({ code: 3, message: "days must be an integer from 1 to 90" });
	});

	it("is cacheable for five minutes", async () => {
		expect((await stats()).headers.get("Cache-Control")).toBe("public, max-age=300");
	});
});

describe("computeStats (suppression)", () => {
	const empty: Aggregates = { installations: 0, reports: 0, bins: [], providers: [], transports: [], facts: [] };

	it("omits a cell backed by 4 installations however many sessions, and shows one backed by 5", () => {
		const agg: Aggregates = {
			...empty,
			installations: 9,
			reports: 9,
			bins: [
				{ metric: DURATION, bin: "<1min", sessions: 400, installations: 4 },
				{ metric: DURATION, bin: "5-10min", sessions: 3, installations: 3 },
				{ metric: DURATION, bin: ">60min", sessions: 5, installations: 5 },
				{ metric: EXCHANGES, bin: "1-5", sessions: 408, installations: 9 },
			],
			transports: [{ transport: "local", sessions: 408, installations: 9 }],
			facts: [
				{ column: "os_type", value: null, installations: 5 },
				{ column: "os_type", value: "linux", installations: 2 },
				{ column: "os_type", value: "darwin", installations: 2 },
			],
		};
		const stats = computeStats(agg, 30, 5);
		// Two bins withheld: the 408 sessions minus the 5 shown give only their sum.
		expect(stats.metrics[DURATION]).toEqual({ bins: { ">60min": 5 } });
		expect(stats.transport).toEqual({ local: 408 });
		expect(stats.environment["os.type"]).toEqual({ unknown: 5 });
	});

	it("withholds the smallest shown part as well when a total minus the shown parts would give a withheld cell", () => {
		const agg: Aggregates = {
			...empty,
			installations: 12,
			reports: 12,
			facts: [
				{ column: "os_type", value: "linux", installations: 6 },
				{ column: "os_type", value: "darwin", installations: 5 },
				{ column: "os_type", value: "windows", installations: 1 },
			],
		};
		// 12 - 6 - 5 would be the one Windows installation: darwin (the smaller) goes too.
		expect(computeStats(agg, 30, 5).environment["os.type"]).toEqual({ linux: 6 });
		// With a second small value, the remainder is the sum of two unknowns: nothing more goes.
		const two = { ...agg, installations: 14, facts: [...agg.facts, { column: "os_type", value: "freebsd", installations: 2 }] };
		expect(computeStats(two, 30, 5).environment["os.type"]).toEqual({ linux: 6, darwin: 5 });
	});

	it("keeps the full shape when everything is suppressed", () => {
		expect(computeStats(empty, 7, 5)).toEqual({
			days: 7,
			as_of: null,
			installations: 0,
			reports: 0,
			metrics: { [DURATION]: { bins: {} }, [EXCHANGES]: { bins: {} }, [PROVIDERS]: { tts: {}, stt: {} } },
			transport: {},
			environment: { "service.version": {}, "os.type": {}, "voicemode.install.method": {}, "voicemode.mcp.host": {}, "voicemode.exec.source": {} },
		});
	});
});
