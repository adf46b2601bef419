/**
 * Published numbers give no one installation away (docs/privacy.md, threat model):
 *  (a) self-minted IDs (sybils) change no published number until they are established
 *      (reports received on 3 UTC days spanning a week), so four fresh IDs carrying a
 *      victim's values cannot lift the victim's withheld cells over the threshold;
 *  (b) an erasure changes no published number — its counts stay in the ID-free rollups
 *      and history until they age out, as any silent installation's do — so two reads
 *      around a DELETE differ by nothing;
 *  (c) the headline and the trend come from the same counts, so they agree after an
 *      erasure too.
 * Reports go through the real ingest handler at chosen receiving times, and the real
 * cron; property tests draw random populations, sybils and erasures.
 */
import { createScheduledController } from "cloudflare:test";
import { env } from "cloudflare:workers";
import fc from "fast-check";
import { beforeEach, describe, expect, it } from "vitest";
import worker from "../src/index";
import { ROLLUP_CRON } from "../src/jobs/cron";
import { handleMetrics } from "../src/routes/metrics";
import wrangler from "../wrangler.jsonc?raw";
import { DAY_MS, HOUR_MS, buildRequest, hourMs, resourceAttrs, toProtobuf, type HistogramPointSpec } from "./support/otlp";
import { exportResult, uuid } from "./support/worker";

/** The rule a deployment runs (wrangler.jsonc), not the tests' default binding. */
const DEPLOYED = /"STATS_ESTABLISHED":\s*"([^"]+)"/.exec(wrangler)?.[1] ?? "";
const refresh = (nowMs: number) =>
	worker.scheduled(createScheduledController({ scheduledTime: nowMs, cron: ROLLUP_CRON }), { ...env, STATS_ESTABLISHED: DEPLOYED });

const TABLES = ["reports", "installations", "rate_limits", "rollup_pending", "rollup_hours", "rollup_installations", "series_buckets", "series_backfill", "erasures"];
const NOW = Date.now();
/** Days before NOW on which an established installation's reports were received: 3 days spanning 8. */
const ESTABLISHED_ON = [8, 4, 0];

beforeEach(async () => {
	await env.DB.batch([...TABLES.map((t) => env.DB.prepare(`DELETE FROM ${t}`)), env.DB.prepare("UPDATE rollup_state SET as_of = NULL")]);
});

let addresses = 0;
/** Stores one report through the Worker's own ingest handler as if received at `nowMs`. */
async function sendAt(request: ReturnType<typeof buildRequest>, nowMs: number): Promise<void> {
	addresses += 1;
	const post = new Request("https://ingest.test/v1/metrics", {
		method: "POST",
		headers: { "Content-Type": "application/x-protobuf", "CF-Connecting-IP": `192.0.2.${addresses % 250}` },
		body: toProtobuf(request),
	});
	expect(await exportResult(await handleMetrics(post, env, nowMs))).toEqual({});
}

interface Profile {
	readonly resource: Record<string, string>;
	readonly bin: number;
	readonly provider: string;
}

const ORDINARY: Profile = { resource: {}, bin: 1, provider: "kokoro" };
/** The victim's rare values. */
const RARE: Profile = {
	resource: { "os.type": "aix", "voicemode.mcp.host": "zed", "service.version": "7.0.0", "voicemode.install.method": "pipx" },
	bin: 5,
	provider: "mlx-audio",
};

function report(id: string, nowMs: number, profile: Profile) {
	const one = (bins: number, at: number): HistogramPointSpec => ({ transport: "local", counts: Array.from({ length: bins }, (_, i) => (i === at ? 1 : 0)) });
	return buildRequest({
		id,
		startMs: hourMs(nowMs, 24),
		endMs: hourMs(nowMs, 0),
		resource: { ...resourceAttrs(id), ...profile.resource },
		duration: [one(6, profile.bin)],
		exchanges: [one(5, Math.min(profile.bin, 4))],
		providers: [{ role: "tts", name: profile.provider, value: 1 }],
	});
}

/** An installation that reported on ESTABLISHED_ON days (received then), with `profile`; its ID. */
async function established(profile: Profile): Promise<string> {
	const id = uuid();
	for (const daysAgo of ESTABLISHED_ON) await sendAt(report(id, NOW - daysAgo * DAY_MS, profile), NOW - daysAgo * DAY_MS);
	return id;
}

/** Everything published: the window stats and both series, as a reader gets them. */
async function published(min = 5): Promise<unknown[]> {
	const out = [];
	for (const path of ["/v1/stats?days=1", "/v1/stats?days=7", "/v1/stats?days=30", "/v1/stats?days=90", "/v1/stats?series=day&days=30", "/v1/stats?series=week&days=90"]) {
		const res = await worker.fetch(new Request(`https://ingest.test${path}`) as Parameters<typeof worker.fetch>[0], { ...env, STATS_MIN_INSTALLATIONS: String(min) });
		const body = (await res.json()) as Record<string, unknown>;
		const { as_of: _, ...rest } = body;
		out.push(rest);
	}
	return out;
}

describe("(a) sybils", () => {
	it("four fresh IDs carrying a victim's rare values publish none of the victim's cells", async () => {
		for (let i = 0; i < 6; i++) await established(ORDINARY);
		await established(RARE);
		await refresh(NOW);
		const before = await published();
		for (let i = 0; i < 4; i++) await sendAt(report(uuid(), NOW, RARE), NOW);
		await refresh(NOW);
		expect(await published()).toEqual(before);
		const week = (before[1] ?? {}) as { environment: Record<string, Record<string, number>> };
		expect(week.environment["os.type"]?.aix).toBeUndefined();
	});

	it("(property) no number published changes when any not-yet-established installations report anything", async () => {
		for (let i = 0; i < 5; i++) await established(ORDINARY);
		await established(RARE);
		await refresh(NOW);
		const baseline = await published(2);
		const profile = fc.record({
			resource: fc.record({ "os.type": fc.constantFrom("linux", "darwin", "aix", "windows"), "voicemode.mcp.host": fc.constantFrom("zed", "cursor", "claude-code") }),
			bin: fc.nat(5),
			provider: fc.constantFrom("kokoro", "openai", "mlx-audio", "other"),
		});
		// A sybil reports on at most 2 days, or on 3 within less than a week: never established.
		const sybil = fc.record({ profile, days: fc.uniqueArray(fc.nat(5), { minLength: 1, maxLength: 3 }) });
		await fc.assert(
			fc.asyncProperty(fc.array(sybil, { minLength: 1, maxLength: 6 }), async (sybils) => {
				const ids: string[] = [];
				for (const s of sybils) {
					const id = uuid();
					ids.push(id);
					for (const daysAgo of [...s.days].sort((a, b) => b - a)) await sendAt(report(id, NOW - daysAgo * DAY_MS, s.profile), NOW - daysAgo * DAY_MS);
				}
				await refresh(NOW);
				expect(await published(2)).toEqual(baseline);
				// Take them out again for the next run (they were never published).
				for (const id of ids) {
					await env.DB.batch(["reports", "installations", "rollup_pending"].map((t) => env.DB.prepare(`DELETE FROM ${t} WHERE telemetry_id = ?1`).bind(id)));
				}
			}),
			{ numRuns: 8 },
		);
	}, 120_000);
});

describe("(b) differencing around an erasure, and (c) headline against trend", () => {
	const erase = (id: string) => worker.fetch(new Request(`https://ingest.test/v1/installations/${id}`, { method: "DELETE", headers: { "CF-Connecting-IP": "192.0.2.251" } }) as Parameters<typeof worker.fetch>[0], env);

	it("two reads around a DELETE, and around the next cron runs, publish the same numbers", async () => {
		const ids = [];
		for (let i = 0; i < 7; i++) ids.push(await established(i === 3 ? RARE : ORDINARY));
		await refresh(NOW);
		const before = await published();
		expect((await erase(ids[3] ?? "")).status).toBe(204);
		expect(await published()).toEqual(before);
		await refresh(NOW + HOUR_MS);
		expect(await published()).toEqual(before);
	});

	it("(property) after any erasures the headline's installations equal the trend's, and nothing published moved", async () => {
		await fc.assert(
			fc.asyncProperty(fc.integer({ min: 5, max: 9 }), fc.uniqueArray(fc.nat(8), { maxLength: 4 }), async (population, erased) => {
				await env.DB.batch([...TABLES.map((t) => env.DB.prepare(`DELETE FROM ${t}`)), env.DB.prepare("UPDATE rollup_state SET as_of = NULL")]);
				const ids = [];
				for (let i = 0; i < population; i++) ids.push(await established(i % 3 === 0 ? RARE : ORDINARY));
				await refresh(NOW);
				const before = await published(1);
				for (const i of erased) if (ids[i]) expect((await erase(ids[i])).status).toBe(204);
				await refresh(NOW + HOUR_MS);
				const after = await published(1);
				expect(after).toEqual(before);
				const [headline, , , , days] = after as [{ installations: number }, unknown, unknown, unknown, { buckets: { start: string; installations: number | null }[] }];
				// The day holding the last second of every installation's latest report.
				const day = new Date(hourMs(NOW, 0) - 1000).toISOString().slice(0, 10);
				expect(days.buckets.find((b) => b.start === day)?.installations).toBe(headline.installations);
				expect(headline.installations).toBe(population);
			}),
			{ numRuns: 6 },
		);
	}, 120_000);
});
