/**
 * The contract check: turns a decoded ExportMetricsServiceRequest into reports that
 * may be stored and rejections that may not. Pure (no env, no I/O, `now` passed in),
 * so every rule is a plain unit test.
 *
 * One ResourceMetrics is one report (a Collector may batch many installations into one
 * request). A report is all or nothing: a single bad point rejects every point of its
 * report, so a half-stored report can never block a corrected resend. The reasons are
 * short and never quote client values (only contract names and well-formed keys).
 */
import type { ExportMetricsServiceRequest } from "../gen/opentelemetry/proto/collector/metrics/v1/metrics_service_pb";
import {
	AggregationTemporality,
	type HistogramDataPoint,
	type Metric,
	type NumberDataPoint,
	type ResourceMetrics,
} from "../gen/opentelemetry/proto/metrics/v1/metrics_pb";
import { CONTRACT, DURATION, EXCHANGES, PROVIDERS, TRANSPORT, maxSessionsIn, type CounterSpec, type HistogramSpec } from "../contract";
import { checkPointAttributes, checkResource } from "./attributes";
import { checkPeriod, type Period } from "./period";
import { Reasons, shown } from "./reasons";

export interface HistogramPoint {
	readonly metric: HistogramSpec;
	readonly attributes: Readonly<Record<string, string>>;
	/** One count per contract bin, in contract order. */
	readonly bucketCounts: readonly number[];
	readonly count: number;
}

export interface CounterPoint {
	readonly metric: CounterSpec;
	readonly attributes: Readonly<Record<string, string>>;
	readonly value: number;
}

/** A report that satisfies the whole contract and may be stored. */
export interface ValidReport {
	readonly telemetryId: string;
	readonly period: Period;
	/** Allow-listed resource attributes other than service.name and the ID. */
	readonly environment: Readonly<Record<string, string>>;
	readonly histograms: readonly HistogramPoint[];
	readonly counters: readonly CounterPoint[];
	/** Data points in the report, for OTLP's rejected_data_points if storing fails. */
	readonly points: number;
}

/** A report refused by the contract: all of its points count as rejected. */
export interface RejectedReport {
	readonly points: number;
	/** Why: distinct reasons, privacy breaches first, then in the order found. */
	readonly reasons: readonly string[];
}

export type CheckedReport = { ok: true; report: ValidReport } | { ok: false; rejected: RejectedReport };

const NANOS_PER_MS = 1_000_000n;

/** Checks every ResourceMetrics of a request; resources without any point are skipped. */
export function validateRequest(request: ExportMetricsServiceRequest, nowMs: number): CheckedReport[] {
	return request.resourceMetrics.filter((rm) => countPoints(rm) > 0).map((rm) => validateReport(rm, nowMs));
}

/** Validates one resource's points as one report. */
export function validateReport(rm: ResourceMetrics, nowMs: number): CheckedReport {
	const reasons = new Reasons();
	const points = countPoints(rm);
	const resource = checkResource(rm.resource?.attributes ?? [], reasons);
	if ((rm.resource?.entityRefs.length ?? 0) > 0) reasons.add("resource: entity refs not allowed");

	const metrics = checkScopes(rm, reasons);
	const period = checkTimestamps(metrics, nowMs, reasons);
	const histograms: HistogramPoint[] = [];
	const counters: CounterPoint[] = [];
	const seen = new Set<string>();
	for (const metric of metrics) checkMetric(metric, histograms, counters, seen, reasons);
	if (reasons.empty && period) checkConsistency(histograms, counters, period, reasons);

	if (!reasons.empty || !resource || !period) return { ok: false, rejected: { points, reasons: reasons.list() } };
	return { ok: true, report: { ...resource, period, histograms, counters, points } };
}

/** The number of data points in a resource, of any kind (each counts as rejected). */
export function countPoints(rm: ResourceMetrics): number {
	let n = 0;
	for (const sm of rm.scopeMetrics) {
		for (const m of sm.metrics) {
			if (m.data.case !== undefined) n += m.data.value.dataPoints.length;
		}
	}
	return n;
}

function checkScopes(rm: ResourceMetrics, reasons: Reasons): Metric[] {
	const metrics: Metric[] = [];
	for (const sm of rm.scopeMetrics) {
		if (sm.scope?.name !== CONTRACT.scopeName) reasons.add(`scope: name must be ${CONTRACT.scopeName}`);
		if ((sm.scope?.attributes.length ?? 0) > 0) reasons.add("scope: attributes not allowed");
		metrics.push(...sm.metrics);
	}
	return metrics;
}

/**
 * The period is the points' common [start_time_unix_nano, time_unix_nano): the client
 * stamps every point with its report's period bounds. Each distinct pair is checked,
 * so a foreign client's reasons (say, timestamps not on whole hours) are named even
 * when its points also disagree with each other.
 */
function checkTimestamps(metrics: readonly Metric[], nowMs: number, reasons: Reasons): Period | null {
	const stamps = new Map<string, { start: bigint; end: bigint }>();
	for (const m of metrics) {
		if (m.data.case === undefined) continue;
		for (const p of m.data.value.dataPoints) {
			const start = "startTimeUnixNano" in p ? p.startTimeUnixNano : 0n;
			stamps.set(`${start}/${p.timeUnixNano}`, { start, end: p.timeUnixNano });
		}
	}
	let period: Period | null = null;
	for (const { start, end } of stamps.values()) {
		const checked = checkPeriod(start, end, BigInt(nowMs) * NANOS_PER_MS);
		for (const reason of checked.reasons) reasons.add(`period: ${reason}`);
		period = checked.period;
	}
	if (stamps.size > 1) {
		reasons.add("period: points have different timestamps");
		return null;
	}
	return period;
}

function checkMetric(
	metric: Metric,
	histograms: HistogramPoint[],
	counters: CounterPoint[],
	seen: Set<string>,
	reasons: Reasons,
): void {
	const spec = CONTRACT.metrics.get(metric.name);
	if (!spec) {
		reasons.add(`metric ${shown(metric.name)} not in the contract`);
		return;
	}
	const where = spec.name;
	if (metric.unit !== spec.unit) reasons.add(`${where}: unit must be ${spec.unit}`);
	if (metric.metadata.length > 0) reasons.add(`${where}: metadata not allowed`);
	const { data } = metric;
	if (spec.instrument === "histogram") {
		if (data.case !== "histogram") {
			reasons.add(`${where}: must be an explicit-bucket histogram`);
			return;
		}
		if (data.value.aggregationTemporality !== AggregationTemporality.DELTA) reasons.add(`${where}: temporality must be DELTA`);
		for (const p of data.value.dataPoints) {
			const point = checkHistogramPoint(spec, p, reasons);
			if (point && firstOf(spec.name, point.attributes, seen, reasons)) histograms.push(point);
		}
		return;
	}
	if (data.case !== "sum" || !data.value.isMonotonic) {
		reasons.add(`${where}: must be a monotonic sum (counter)`);
		return;
	}
	if (data.value.aggregationTemporality !== AggregationTemporality.DELTA) reasons.add(`${where}: temporality must be DELTA`);
	for (const p of data.value.dataPoints) {
		const point = checkCounterPoint(spec, p, reasons);
		if (point && firstOf(spec.name, point.attributes, seen, reasons)) counters.push(point);
	}
}

/** Two points of one metric with the same attributes would count sessions twice. */
function firstOf(metric: string, attributes: Readonly<Record<string, string>>, seen: Set<string>, reasons: Reasons): boolean {
	const key = JSON.stringify([metric, attributes]);
	if (seen.has(key)) {
		reasons.add(`${metric}: two points with the same attributes`);
		return false;
	}
	seen.add(key);
	return true;
}

const MAX_COUNT = BigInt(CONTRACT.counts.maxCount);
/** The reason for a count over the contract's cap (no report may hold more). */
const OVER_CAP = `at most ${CONTRACT.counts.maxCount} (contract counts)`;

/**
 * A count as a number, or null above the contract's cap: checked before any arithmetic,
 * so every sum the Worker computes from stored counts stays exact (docs/capacity.md).
 */
function cappedCount(n: bigint): number | null {
	return n <= MAX_COUNT ? Number(n) : null;
}

/** Privacy first: sum/min/max/exemplars would reveal exact values, so they refuse the point. */
function checkHistogramPoint(spec: HistogramSpec, p: HistogramDataPoint, reasons: Reasons): HistogramPoint | null {
	const where = spec.name;
	const before = reasons.added;
	if (p.sum !== undefined) reasons.add(`${where}: sum not allowed`, true);
	if (p.min !== undefined) reasons.add(`${where}: min not allowed`, true);
	if (p.max !== undefined) reasons.add(`${where}: max not allowed`, true);
	if (p.exemplars.length > 0) reasons.add(`${where}: exemplars not allowed`, true);
	if (p.flags !== 0) reasons.add(`${where}: flags not allowed`);
	const sameBounds =
		p.explicitBounds.length === spec.boundaries.length && p.explicitBounds.every((b, i) => b === spec.boundaries[i]);
	if (!sameBounds) reasons.add(`${where}: bucket boundaries differ from the contract`);
	const attributes = checkPointAttributes(spec, p.attributes, reasons);
	const counts = p.bucketCounts.map(cappedCount);
	const count = cappedCount(p.count);
	if (counts.length !== spec.bins.length) {
		reasons.add(`${where}: ${spec.bins.length} bucket counts required`);
	} else if (count === null || counts.some((c) => c === null)) {
		reasons.add(`${where}: count too large: ${OVER_CAP}`);
	} else if (counts.reduce<number>((a, c) => a + (c ?? 0), 0) !== count) {
		reasons.add(`${where}: bucket counts do not add up to count`);
	}
	if (reasons.added !== before || !attributes || count === null) return null;
	return { metric: spec, attributes, bucketCounts: counts.map((c) => c ?? 0), count };
}

function checkCounterPoint(spec: CounterSpec, p: NumberDataPoint, reasons: Reasons): CounterPoint | null {
	const where = spec.name;
	const before = reasons.added;
	if (p.exemplars.length > 0) reasons.add(`${where}: exemplars not allowed`, true);
	if (p.flags !== 0) reasons.add(`${where}: flags not allowed`);
	const attributes = checkPointAttributes(spec, p.attributes, reasons);
	let value: number | null = null;
	if (p.value.case !== "asInt" || p.value.value < 0n) {
		reasons.add(`${where}: value must be a non-negative integer (as_int)`);
	} else {
		value = cappedCount(p.value.value);
		if (value === null) reasons.add(`${where}: value too large: ${OVER_CAP}`);
	}
	if (reasons.added !== before || !attributes || value === null) return null;
	return { metric: spec, attributes, value };
}

/**
 * Each session is recorded once in each histogram and at most once per provider per
 * role, so the two histograms agree per transport and no provider count exceeds the
 * sessions; and a period holds at most the contract's sessions per hour. A report
 * breaking this was not made by the contract's client.
 */
function checkConsistency(histograms: readonly HistogramPoint[], counters: readonly CounterPoint[], period: Period, reasons: Reasons): void {
	const perTransport = (spec: HistogramSpec): Map<string, number> => {
		const out = new Map<string, number>();
		for (const h of histograms) {
			if (h.metric !== spec) continue;
			const transport = h.attributes[TRANSPORT] ?? "";
			out.set(transport, (out.get(transport) ?? 0) + h.count);
		}
		return out;
	};
	const durations = perTransport(DURATION);
	const exchanges = perTransport(EXCHANGES);
	for (const transport of new Set([...durations.keys(), ...exchanges.keys()])) {
		if ((durations.get(transport) ?? 0) !== (exchanges.get(transport) ?? 0)) {
			reasons.add(`report: ${DURATION.name} and ${EXCHANGES.name} count different sessions`);
		}
	}
	const sessions = [...durations.values()].reduce((a, n) => a + n, 0);
	if (sessions > maxSessionsIn(period.end - period.start)) {
		reasons.add(`report: more sessions than the period allows: at most ${CONTRACT.counts.maxSessionsPerHour} an hour (contract counts)`);
	}
	if (counters.some((c) => c.metric.name === PROVIDERS && c.value > sessions)) {
		reasons.add(`report: a ${PROVIDERS} count exceeds the sessions`);
	}
}
