/**
 * The numbers README.md and docs/capacity.md state about an accepted report's D1 cost
 * are the ones D1 reports for the Worker's own batch — one measured total, stated the
 * same everywhere (the rate-limit section once said "2 of the 5" while the rest said 6).
 */
import { env } from "cloudflare:workers";
import { describe, expect, it } from "vitest";
import capacity from "../../docs/capacity.md?raw";
import readme from "../README.md?raw";
import { storeReport } from "../src/db/reports";
import { currentWindow, idBucket, ipBucket } from "../src/ingest/ratelimit";
import { toRows } from "../src/db/rows";
import { tombstoneKey } from "../src/ingest/tombstone";
import { validateRequest } from "../src/ingest/validate";
import { buildRequest, hourMs } from "./support/otlp";
import { uuid } from "./support/worker";

async function measured(): Promise<{ total: number; rateLimitRows: number }> {
	const now = Date.now();
	const id = uuid();
	const [checked] = validateRequest(buildRequest({ id, startMs: hourMs(now, 3), endMs: hourMs(now, 0) }), now);
	if (!checked?.ok) throw new Error("fixture must be valid");
	const buckets = [idBucket(id), await ipBucket("k", `203.0.113.${Math.floor(Math.random() * 200)}`, now)] as const;
	const before = (await env.DB.prepare("SELECT COUNT(*) AS n FROM rate_limits").first<{ n: number }>())?.n ?? 0;
	const outcome = await storeReport(env.DB, toRows(checked.report, now), buckets, currentWindow(now).start, await tombstoneKey("k", id));
	if (outcome.kind !== "stored") throw new Error(outcome.kind);
	const after = (await env.DB.prepare("SELECT COUNT(*) AS n FROM rate_limits").first<{ n: number }>())?.n ?? 0;
	return { total: outcome.rowsWritten, rateLimitRows: after - before };
}

describe("the documented D1 cost of a report", () => {
	it("is the measured one in every place that states it", async () => {
		const { total, rateLimitRows } = await measured();
		expect(readme).toContain(`**${total} rows written per accepted report**`);
		const share = /Cost: (\d+) of the (\d+) rows written per report/.exec(readme);
		expect(share?.slice(1).map(Number)).toEqual([rateLimitRows, total]);
		expect(capacity).toMatch(new RegExp(`D1 rows written per accepted report, at ingest \\| \\*\\*${total}\\*\\*`));
	});
});
