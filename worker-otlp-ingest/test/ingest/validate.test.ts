import { create } from "@bufbuild/protobuf";
import { describe, expect, it } from "vitest";
import { ExportMetricsServiceRequestSchema } from "../../src/gen/opentelemetry/proto/collector/metrics/v1/metrics_service_pb";
import { CONTRACT, DURATION, EXCHANGES, maxSessionsIn } from "../../src/contract";
import { reportCells } from "../../src/db/rows";
import { validateRequest } from "../../src/ingest/validate";
import { TYPICAL_CELLS, buildRequest, hourMs, resourceAttrs } from "../support/otlp";

const NOW = Date.UTC(2026, 10, 25, 17, 23);
const ID = "0b7e5f1c-2d3a-4b5c-8d9e-0f1a2b3c4d5e";

describe("validateRequest (pure, now injected)", () => {
	it("turns the typical report into exactly its ValidReport", () => {
		const [checked] = validateRequest(buildRequest({ id: ID, startMs: hourMs(NOW, 24), endMs: hourMs(NOW, 0) }), NOW);
		expect(checked?.ok).toBe(true);
		if (!checked?.ok) return;
		const { histograms, counters, ...rest } = checked.report;
		const { "service.name": _, "voicemode.telemetry.id": __, ...environment } = resourceAttrs(ID);
		expect(rest).toEqual({ telemetryId: ID, period: { start: hourMs(NOW, 24) / 1000, end: hourMs(NOW, 0) / 1000 }, environment, points: 7 });
		expect(histograms.map((h) => [h.metric.name, h.attributes, h.bucketCounts, h.count])).toEqual([
			[DURATION.name, { "voicemode.transport": "local" }, [2, 1, 1, 0, 0, 0], 4],
			[DURATION.name, { "voicemode.transport": "livekit" }, [0, 0, 0, 1, 0, 0], 1],
			[EXCHANGES.name, { "voicemode.transport": "local" }, [0, 3, 1, 0, 0], 4],
			[EXCHANGES.name, { "voicemode.transport": "livekit" }, [0, 0, 0, 0, 1], 1],
		]);
		expect(counters.map((c) => [c.attributes, c.value])).toEqual([
			[{ "voicemode.provider.role": "tts", "voicemode.provider.name": "kokoro" }, 4],
			[{ "voicemode.provider.role": "tts", "voicemode.provider.name": "openai" }, 1],
			[{ "voicemode.provider.role": "stt", "voicemode.provider.name": "whisper-local" }, 5],
		]);
		expect(reportCells(checked.report)).toEqual(TYPICAL_CELLS);
	});

	it("skips resources without data points: they are no report", () => {
		const request = buildRequest({ id: ID, startMs: 0, endMs: 0, duration: [], exchanges: [], providers: [] });
		expect(validateRequest(request, NOW)).toEqual([]);
		expect(validateRequest(create(ExportMetricsServiceRequestSchema), NOW)).toEqual([]);
	});

	it("accepts a report whose metrics are split over several scopes named voicemode", () => {
		const request = buildRequest({ id: ID, startMs: hourMs(NOW, 24), endMs: hourMs(NOW, 0) });
		const scope = request.resourceMetrics[0]?.scopeMetrics[0];
		if (!scope) throw new Error("fixture");
		const moved = scope.metrics.splice(2);
		request.resourceMetrics[0]?.scopeMetrics.push({ ...scope, metrics: moved });
		const [checked] = validateRequest(request, NOW);
		expect(checked?.ok).toBe(true);
	});

	it("drops zero counts from the stored cells (only non-empty bins are written)", () => {
		const [checked] = validateRequest(
			buildRequest({
				id: ID,
				startMs: hourMs(NOW, 2),
				endMs: hourMs(NOW, 1),
				duration: [{ transport: "local", counts: [0, 0, 0, 0, 0, 0] }],
				exchanges: [{ transport: "local", counts: [0, 0, 0, 0, 0] }],
				providers: [{ role: "stt", name: "kokoro", value: 0 }],
			}),
			NOW,
		);
		if (!checked?.ok) throw new Error("an all-zero report is valid");
		expect(reportCells(checked.report)).toEqual([]);
	});

	it("judges each resource on its own: one invalid report leaves the next valid", () => {
		const other = "1b7e5f1c-2d3a-4b5c-8d9e-0f1a2b3c4d5e";
		const request = buildRequest(
			{ id: ID, startMs: hourMs(NOW, 2), endMs: hourMs(NOW, -3) },
			{ id: other, startMs: hourMs(NOW, 2), endMs: hourMs(NOW, 1) },
		);
		expect(validateRequest(request, NOW).map((c) => (c.ok ? c.report.telemetryId : c.rejected))).toEqual([
			{ points: 7, reasons: ["period: ends in the future"] },
			other,
		]);
	});

	/** A report of `hours` hours with `sessions` local sessions of one bin, and a provider count. */
	const capped = (hours: number, sessions: number, provider = sessions) =>
		buildRequest({
			id: ID,
			startMs: hourMs(NOW, hours),
			endMs: hourMs(NOW, 0),
			duration: [{ transport: "local", counts: [sessions, 0, 0, 0, 0, 0] }],
			exchanges: [{ transport: "local", counts: [0, sessions, 0, 0, 0] }],
			providers: [{ role: "tts", name: "kokoro", value: provider }],
		});
	const reasons = (hours: number, sessions: number, provider?: number) =>
		validateRequest(capped(hours, sessions, provider), NOW).map((c) => (c.ok ? "ok" : c.rejected.reasons));
	const perHour = CONTRACT.counts.maxSessionsPerHour;

	it.each([1, 24, 168])("takes up to the contract's sessions an hour for a %i-hour period, and refuses one more", (hours) => {
		expect(maxSessionsIn(hours * 3600)).toBe(perHour * hours);
		expect(reasons(hours, perHour * hours)).toEqual(["ok"]);
		expect(reasons(hours, perHour * hours + 1)).toEqual([[`report: more sessions than the period allows: at most ${perHour} an hour (contract counts)`]]);
	});

	it("refuses any single count above the cap of the longest period before adding anything up", () => {
		const cap = CONTRACT.counts.maxCount;
		expect(cap).toBe(perHour * (CONTRACT.period.serverMaxSeconds / 3600));
		expect(reasons(192, cap)).toEqual(["ok"]);
		expect(reasons(192, cap + 1)).toEqual([
			[`${DURATION.name}: count too large: at most ${cap} (contract counts)`, `${EXCHANGES.name}: count too large: at most ${cap} (contract counts)`, `voicemode.session.providers: value too large: at most ${cap} (contract counts)`],
		]);
		expect(reasons(24, 1, Number.MAX_SAFE_INTEGER)).toEqual([[`voicemode.session.providers: value too large: at most ${cap} (contract counts)`]]);
	});
});
