/**
 * GET /v1/stats?series=day|week: the shape, the numbers (equal to what was sent, at
 * threshold 1), suppression at the default threshold with no withheld cell computable
 * from the same bucket, the parameters; and src/stats/series.ts's computeSeries on random
 * microdata (fast-check): every published number exact and backed by enough
 * installations, none computable from the rest.
 */
import { env, exports } from "cloudflare:workers";
import fc from "fast-check";
import { beforeAll, describe, expect, it } from "vitest";
import worker from "../../src/index";
import { CONTRACT, DURATION, EXCHANGES, PROVIDERS, PROVIDER_NAME, PROVIDER_ROLE, TRANSPORT } from "../../src/contract";
import { INSTALLATION_COLUMNS } from "../../src/db/rows";
import type { SeriesRow } from "../../src/db/buckets";
import { bucketStarts, computeSeries, type Series } from "../../src/stats/series";
import { compareVersions } from "../../src/stats/versions";
import { DAY_MS, HOUR_MS, buildRequest, hourMs, resourceAttrs } from "../support/otlp";
import { FACT_KEYS, computable } from "../support/series-relations";
import { exportResult, refresh, send, uuid } from "../support/worker";

const NOW = Date.now();
/** UTC date of the bucket holding the last second before `endMs`. */
const dayOf = (endMs: number): string => new Date(endMs - 1000).toISOString().slice(0, 10);
const ends = [2, 1, 0].map((d) => hourMs(NOW, 0) - d * DAY_MS);
/**
 * The day window that holds those three days: 3 days, or 4 in the first hour of a UTC
 * day, when no whole-hour period can have ended on it yet (one ending at 00:00 belongs
 * to the day before), so the reports' days are the three before it.
 */
const DAYS = new Date(NOW).getUTCHours() === 0 ? 4 : 3;

beforeAll(async () => {
	// Six installations report on each of the last three days; one rare one (darwin, zed, a
	// session over an hour on LiveKit) only on the last.
	for (let i = 0; i < 6; i++) {
		const id = uuid();
		for (const endMs of ends) expect(await exportResult(await send(buildRequest({ id, startMs: endMs - 20 * HOUR_MS, endMs })))).toEqual({});
	}
	const rare = uuid();
	const last = ends[2] ?? 0;
	await send(
		buildRequest({
			id: rare,
			startMs: last - 2 * HOUR_MS,
			endMs: last,
			resource: { ...resourceAttrs(rare), "os.type": "darwin", "voicemode.mcp.host": "zed", "service.version": "8.13.0" },
			duration: [{ transport: "livekit", counts: [0, 0, 0, 0, 0, 1] }],
			exchanges: [{ transport: "livekit", counts: [0, 0, 0, 0, 1] }],
			providers: [{ role: "tts", name: "mlx-audio", value: 1 }],
		}),
	);
	await refresh();
});

async function series(query: string, minInstallations?: string): Promise<Response> {
	const url = `https://ingest.test/v1/stats${query}`;
	if (minInstallations === undefined) return exports.default.fetch(url);
	return worker.fetch(new Request(url) as Parameters<typeof worker.fetch>[0], { ...env, STATS_MIN_INSTALLATIONS: minInstallations });
}

const nulls = (keys: readonly string[]): Record<string, null> => Object.fromEntries(keys.map((k) => [k, null]));
const values = (key: string): readonly string[] => CONTRACT.pointAttributes.get(key)?.values ?? CONTRACT.resourceAttributes.get(key)?.values ?? [];

describe("GET /v1/stats?series=day", () => {
	it("has one bucket per UTC day of the window, oldest first, each with every cell", async () => {
		const res = await series(`?series=day&days=${DAYS}`, "1");
		expect(res.status).toBe(200);
		expect(res.headers.get("Cache-Control")).toBe("public, max-age=300");
		const body = (await res.json()) as Series;
		expect(body).toMatchObject({ days: DAYS, series: "day", as_of: expect.stringMatching(/Z$/) });
		expect(body.buckets.map((b) => b.start)).toEqual(bucketStarts("day", NOW, DAYS).map((s) => new Date(s * 1000).toISOString().slice(0, 10)));
		for (const b of body.buckets) {
			expect(Object.keys(b.metrics[DURATION.name]?.bins ?? {})).toEqual(DURATION.bins);
			expect(Object.keys(b.metrics[EXCHANGES.name]?.bins ?? {})).toEqual(EXCHANGES.bins);
			expect(Object.keys(b.metrics[PROVIDERS] ?? {})).toEqual(values(PROVIDER_ROLE));
			for (const role of values(PROVIDER_ROLE)) expect(Object.keys(b.metrics[PROVIDERS]?.[role] ?? {})).toEqual(values(PROVIDER_NAME));
			expect(Object.keys(b.transport)).toEqual(values(TRANSPORT));
			expect(Object.keys(b.environment)).toEqual(FACT_KEYS);
		}
	});

	it("gives exactly what was sent, per day, when every cell may be published (threshold 1)", async () => {
		const body = (await (await series(`?series=day&days=${DAYS}`, "1")).json()) as Series;
		const byDay = new Map(body.buckets.map((b) => [b.start, b]));
		for (const endMs of ends.slice(0, 2)) {
			const b = byDay.get(dayOf(endMs));
			expect(b).toMatchObject({
				installations: 6,
				reports: 6,
				sessions: 30,
				metrics: { [DURATION.name]: { bins: { "<1min": 12, "1-5min": 6, "5-10min": 6, "10-20min": 6, "20-60min": null, ">60min": null } } },
				transport: { local: 24, livekit: 6, unknown: null },
				environment: { "service.version": { "8.12.0": 6, "8.13.0": null }, "os.type": { linux: 6, darwin: null } },
			});
		}
		expect(byDay.get(dayOf(ends[2] ?? 0))).toMatchObject({
			installations: 7,
			reports: 7,
			sessions: 31,
			metrics: { [DURATION.name]: { bins: { ">60min": 1 } }, [PROVIDERS]: { tts: { "mlx-audio": 1 } } },
			environment: { "service.version": { "8.12.0": 6, "8.13.0": 1 }, "os.type": { linux: 6, darwin: 1 }, "voicemode.mcp.host": { zed: 1 } },
		});
	});

	it("withholds the rare installation's cells at threshold 5, and enough others that none can be computed", async () => {
		const body = (await (await series(`?series=day&days=${DAYS}`)).json()) as Series;
		const last = body.buckets.find((b) => b.start === dayOf(ends[2] ?? 0));
		expect(last).toMatchObject({
			installations: 7,
			metrics: { [DURATION.name]: { bins: { ">60min": null } }, [PROVIDERS]: { tts: { "mlx-audio": null } } },
			environment: { "os.type": { darwin: null, linux: null }, "voicemode.mcp.host": { zed: null } },
		});
		// 8.13.0 is published in no bucket of this response, so it is not even named; 8.12.0 is
		// (on the other days), and withheld here: 7 - 6 would be the one 8.13.0 installation.
		expect(last?.environment["service.version"]).toEqual({ "8.12.0": null });
		// And the days before, with nothing rare, are published whole.
		expect(body.buckets.find((b) => b.start === dayOf(ends[0] ?? 0))).toMatchObject({ installations: 6, transport: { local: 24, livekit: 6 } });
	});

	it("leaves a day with fewer installations than the threshold all null", async () => {
		const body = (await (await series("?series=day&days=5", "100")).json()) as Series;
		for (const b of body.buckets) {
			expect([b.installations, b.reports, b.sessions]).toEqual([null, null, null]);
			expect(b.metrics[DURATION.name]?.bins).toEqual(nulls(DURATION.bins));
		}
	});
});

describe("GET /v1/stats?series=week", () => {
	it("counts each installation once per week, whatever its number of reports", async () => {
		const body = (await (await series("?series=week&days=14", "1")).json()) as Series;
		expect(body.series).toBe("week");
		expect(body.buckets.every((b) => new Date(`${b.start}T00:00:00Z`).getUTCDay() === 1)).toBe(true);
		const reports = body.buckets.reduce((n, b) => n + (b.reports ?? 0), 0);
		expect(reports).toBe(19);
		for (const b of body.buckets) if (b.installations !== null) expect(b.installations).toBeLessThanOrEqual(7);
	});
});

describe("GET /v1/stats parameters", () => {
	it.each([
		["?series=month", "series must be day or week"],
		["?series=", "series must be day or week"],
		["?series=day&days=731", "days must be an integer from 1 to 730"],
		["?series=week&days=0", "days must be an integer from 1 to 730"],
		["?days=91", "days must be an integer from 1 to 90"],
	])("answers 400 for %s", async (query, message) => {
		const res = await series(query);
		expect(res.status).toBe(400);
		expect(await res.json()).toEqual({ code: 3, message });
	});

	it("reaches back two years with a series", async () => {
		const body = (await (await series("?series=week&days=730")).json()) as Series;
		expect(body.buckets.length).toBeGreaterThanOrEqual(105);
		expect((await series("?series=day&days=730")).status).toBe(200);
	});
});

describe("versions order", () => {
	it("follows release order, pre-releases and dev releases included", () => {
		const sorted = ["9.0.0", "8.12.0.post1", "8.12.0", "8.12.0rc1", "8.12.0a2", "8.12.0.dev1", "8.10.0", "8.9.3", "unknown"].sort(compareVersions);
		expect(sorted).toEqual(["unknown", "8.9.3", "8.10.0", "8.12.0.dev1", "8.12.0a2", "8.12.0rc1", "8.12.0", "8.12.0.post1", "9.0.0"]);
	});
});

// ---- computeSeries on random microdata ----

const VERSIONS = ["", "8.10.0", "8.11.2", "8.12.0", "8.13.0.dev1", "9.0.0"];
const OS = values("os.type");
const HOSTS = values("voicemode.mcp.host");
const roles = values(PROVIDER_ROLE);
const names = values(PROVIDER_NAME);
const transports = values(TRANSPORT);
const HIST = [DURATION, EXCHANGES];
const BUCKETS = 4;

const session = fc.record({ d: fc.nat(5), e: fc.nat(4), t: fc.nat(transports.length - 1), p: fc.array(fc.nat(names.length - 1), { minLength: roles.length, maxLength: roles.length }) });
const installation = fc.record({
	facts: fc.array(fc.tuple(fc.nat(VERSIONS.length - 1), fc.nat(3), fc.nat(3)), { minLength: BUCKETS, maxLength: BUCKETS }),
	days: fc.array(fc.option(fc.array(session, { maxLength: 4 }), { nil: null }), { minLength: BUCKETS, maxLength: BUCKETS }),
});

const cid = (...keys: string[]): string => JSON.stringify(keys);
const COLUMN = Object.fromEntries(FACT_KEYS.map((k) => [k, INSTALLATION_COLUMNS[k] ?? k]));

/** The history rows and the true cells per bucket, as src/db/history.ts would store them. */
type Installation = typeof installation extends fc.Arbitrary<infer T> ? T : never;

function microdata(installs: readonly Installation[], starts: readonly number[]): { rows: SeriesRow[]; truths: Map<string, number>[] } {
	const rows: SeriesRow[] = [];
	const truths: Map<string, number>[] = [];
	starts.forEach((start, bi) => {
		const cells = new Map<string, { value: number; ids: Set<number> }>();
		const add = (key: string, value: number, who: number): void => {
			const c = cells.get(key) ?? { value: 0, ids: new Set<number>() };
			c.value += value;
			c.ids.add(who);
			cells.set(key, c);
		};
		const row = (kind: SeriesRow["kind"], name: string, a: string, b: string, key: string): void => {
			const c = cells.get(key);
			if (c) rows.push({ start, kind, name, a, b, total: c.value, installations: c.ids.size });
		};
		installs.forEach((inst, who) => {
			const day = inst.days[bi];
			if (day === null || day === undefined) return;
			add("reports", 1, who);
			const [v, o, h] = inst.facts[bi] ?? [0, 0, 0];
			add(`fact|${COLUMN["service.version"]}|${VERSIONS[v] ?? ""}`, 1, who);
			add(`fact|${COLUMN["os.type"]}|${OS[o] ?? ""}`, 1, who);
			add(`fact|${COLUMN["voicemode.mcp.host"]}|${HOSTS[h] ?? ""}`, 1, who);
			for (const s of day) {
				add("sessions", 1, who);
				add(`bin|${DURATION.name}|${DURATION.bins[s.d] ?? ""}`, 1, who);
				add(`bin|${EXCHANGES.name}|${EXCHANGES.bins[s.e] ?? ""}`, 1, who);
				add(`transport|${DURATION.name}|${transports[s.t] ?? ""}`, 1, who);
				roles.forEach((role, ri) => add(`provider|${PROVIDERS}|${role}|${names[s.p[ri] ?? 0] ?? ""}`, 1, who));
			}
		});
		const truth = new Map<string, number>();
		for (const [key, c] of cells) {
			const [kind = "", name = "", a = "", b = ""] = key.split("|");
			if (kind === "reports") {
				rows.push({ start, kind, name: "", a: "", b: "", total: c.value, installations: c.ids.size });
				truth.set(cid("installations"), c.ids.size);
				truth.set(cid("reports"), c.value);
			} else if (kind === "sessions") {
				row("sessions", "", "", "", key);
				truth.set(cid("sessions"), c.value);
			} else if (kind === "fact") {
				rows.push({ start, kind, name, a, b: "", total: 0, installations: c.ids.size });
				const factKey = FACT_KEYS.find((k) => COLUMN[k] === name) ?? name;
				truth.set(cid("environment", factKey, a === "" ? "unknown" : a), c.ids.size);
			} else {
				row(kind as SeriesRow["kind"], name, a, b, key);
				if (kind === "bin") truth.set(cid("metrics", name, "bins", a), c.value);
				if (kind === "transport") truth.set(cid("transport", a), c.value);
				if (kind === "provider") truth.set(cid("metrics", name, a, b), c.value);
			}
		}
		// Every listed closed-set cell is in the truth too, at zero where nothing fell.
		for (const h of HIST) for (const bin of h.bins) if (!truth.has(cid("metrics", h.name, "bins", bin))) truth.set(cid("metrics", h.name, "bins", bin), 0);
		truth.set(cid("sessions"), truth.get(cid("sessions")) ?? 0);
		truth.set(cid("installations"), truth.get(cid("installations")) ?? 0);
		truths.push(truth);
	});
	return { rows, truths };
}

describe("computeSeries (property, random microdata)", () => {
	it("publishes exact numbers backed by enough installations, and no withheld cell can be computed from its bucket", () => {
		const nowMs = Date.UTC(2026, 10, 25, 12);
		const starts = bucketStarts("day", nowMs, BUCKETS);
		fc.assert(
			fc.property(fc.array(installation, { maxLength: 14 }), fc.integer({ min: 1, max: 6 }), (installs, k) => {
				const { rows, truths } = microdata(installs, starts);
				const result = computeSeries(rows, "day", BUCKETS, nowMs, k);
				expect(result.buckets).toHaveLength(BUCKETS);
				result.buckets.forEach((bucket, i) => {
					const truth = truths[i] ?? new Map<string, number>();
					// Published numbers are the truth.
					const check = (value: number | null, key: string): void => {
						if (value !== null) expect(value).toBe(truth.get(key) ?? 0);
					};
					check(bucket.installations, cid("installations"));
					check(bucket.sessions, cid("sessions"));
					for (const h of HIST) for (const [bin, v] of Object.entries(bucket.metrics[h.name]?.bins ?? {})) check(v, cid("metrics", h.name, "bins", bin));
					for (const key of FACT_KEYS) for (const [v, n] of Object.entries(bucket.environment[key] ?? {})) check(n, cid("environment", key, v));
					// Below the threshold, nothing.
					if ((truth.get(cid("installations")) ?? 0) < k) expect(bucket.installations).toBeNull();
					expect(computable(truth, bucket)).toEqual([]);
				});
			}),
			{ numRuns: 400 },
		);
	});
});
