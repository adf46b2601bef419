/**
 * Typed view of voicemode_otel/contract.json, the one data contract shared with the
 * Python client. Nothing here may restate a metric's unit, boundary, bin label or
 * value set: everything is read from the JSON file, which the bundler inlines. The
 * few names the Worker needs to refer to (which metric is the duration histogram,
 * which attribute is the transport) are checked against the file at load time, so a
 * renamed key fails every test instead of silently matching nothing.
 */
import raw from "../../voicemode_otel/contract.json";

export interface HistogramSpec {
	readonly name: string;
	readonly instrument: "histogram";
	readonly unit: string;
	/** Upper-inclusive bucket bounds, exactly as the client must send them. */
	readonly boundaries: readonly number[];
	/** One label per bucket: boundaries.length + 1 of them. */
	readonly bins: readonly string[];
	readonly attributes: readonly string[];
}

export interface CounterSpec {
	readonly name: string;
	readonly instrument: "counter";
	readonly unit: string;
	readonly attributes: readonly string[];
}

export type MetricSpec = HistogramSpec | CounterSpec;

/** An attribute key's allowed values: a closed set, or a pattern for open values. */
export interface AttributeRule {
	readonly key: string;
	readonly values: readonly string[] | null;
	readonly pattern: RegExp | null;
}

export interface PeriodRules {
	readonly granularitySeconds: number;
	readonly clientMaxSeconds: number;
	readonly serverMaxSeconds: number;
	readonly maxAgeSeconds: number;
	readonly futureSkewSeconds: number;
}

/**
 * Plausibility caps on a report's counts (contract.json `counts`, which says why): at
 * most `maxSessionsPerHour` sessions per whole hour of a report's period, so no single
 * count of any report exceeds `maxCount` (the cap of the longest period accepted).
 */
export interface CountRules {
	readonly maxSessionsPerHour: number;
	readonly maxCount: number;
}

export interface Contract {
	readonly version: number;
	readonly scopeName: string;
	readonly metrics: ReadonlyMap<string, MetricSpec>;
	readonly pointAttributes: ReadonlyMap<string, AttributeRule>;
	readonly resourceAttributes: ReadonlyMap<string, AttributeRule>;
	readonly resourceRequired: readonly string[];
	readonly ignoredResourcePrefixes: readonly string[];
	readonly maxValueLength: number;
	readonly period: PeriodRules;
	readonly counts: CountRules;
}

interface RawAttribute {
	readonly values?: readonly string[];
	readonly pattern?: string;
}

interface RawMetric {
	readonly instrument: string;
	readonly unit: string;
	readonly boundaries?: readonly number[];
	readonly bins?: readonly string[];
	readonly attributes: readonly string[];
}

function attributeRule(key: string, spec: RawAttribute): AttributeRule {
	if (!spec.values && !spec.pattern) throw new Error(`contract: ${key} has neither values nor pattern`);
	return { key, values: spec.values ?? null, pattern: spec.pattern ? new RegExp(spec.pattern) : null };
}

function metricSpec(name: string, spec: RawMetric): MetricSpec {
	if (spec.instrument === "counter") {
		return { name, instrument: "counter", unit: spec.unit, attributes: spec.attributes };
	}
	const { boundaries, bins } = spec;
	if (spec.instrument !== "histogram" || !boundaries || !bins || bins.length !== boundaries.length + 1) {
		throw new Error(`contract: ${name} is not a well-formed histogram or counter`);
	}
	return { name, instrument: "histogram", unit: spec.unit, boundaries, bins, attributes: spec.attributes };
}

/** The most sessions a report of a period `periodSeconds` long may hold, at `perHour` an hour. */
function maxSessions(perHour: number, periodSeconds: number): number {
	return perHour * Math.floor(periodSeconds / 3600);
}

function entries<T, U>(obj: Record<string, T>, make: (key: string, value: T) => U): ReadonlyMap<string, U> {
	return new Map(Object.entries(obj).map(([key, value]) => [key, make(key, value)]));
}

/** Parses the contract document; exported so tests can check the parser on variants. */
export function parseContract(doc: typeof raw): Contract {
	if (doc.temporality !== "delta") throw new Error("contract: only delta temporality is supported");
	const metrics: Record<string, RawMetric> = doc.metrics;
	const pointAttributes: Record<string, RawAttribute> = doc.point_attributes;
	const resourceAttributes: Record<string, RawAttribute> = doc.resource.attributes;
	return {
		version: doc.version,
		scopeName: doc.scope.name,
		metrics: entries(metrics, metricSpec),
		pointAttributes: entries(pointAttributes, attributeRule),
		resourceAttributes: entries(resourceAttributes, attributeRule),
		resourceRequired: doc.resource.required,
		ignoredResourcePrefixes: doc.resource.ignored_prefixes,
		maxValueLength: doc.resource.max_value_length,
		period: {
			granularitySeconds: doc.period.granularity_seconds,
			clientMaxSeconds: doc.period.client_max_seconds,
			serverMaxSeconds: doc.period.server_max_seconds,
			maxAgeSeconds: doc.period.max_age_seconds,
			futureSkewSeconds: doc.period.future_skew_seconds,
		},
		counts: {
			maxSessionsPerHour: doc.counts.max_sessions_per_hour,
			maxCount: maxSessions(doc.counts.max_sessions_per_hour, doc.period.server_max_seconds),
		},
	};
}

export const CONTRACT: Contract = parseContract(raw);

/** The most sessions one report of a period `periodSeconds` long may hold (contract.json `counts`). */
export function maxSessionsIn(periodSeconds: number): number {
	return maxSessions(CONTRACT.counts.maxSessionsPerHour, periodSeconds);
}

/** Whether `value` may be stored under `rule` (closed set, or full-match pattern). */
export function allows(rule: AttributeRule, value: string): boolean {
	if (rule.values) return rule.values.includes(value);
	return rule.pattern !== null && rule.pattern.test(value);
}

function known<T>(map: ReadonlyMap<string, T>, key: string): string {
	if (!map.has(key)) throw new Error(`contract: ${key} is missing`);
	return key;
}

function histogram(name: string): HistogramSpec {
	const spec = CONTRACT.metrics.get(name);
	if (spec?.instrument !== "histogram") throw new Error(`contract: ${name} is not a histogram`);
	return spec;
}

/** The duration histogram: its per-transport counts are the report's sessions. */
export const DURATION = histogram("voicemode.session.duration");
/** The exchanges histogram: records every session once more, so its totals must match. */
export const EXCHANGES = histogram("voicemode.session.exchanges");
/** The provider counter: each session counts once per distinct provider per role. */
export const PROVIDERS = known(CONTRACT.metrics, "voicemode.session.providers");

export const TRANSPORT = known(CONTRACT.pointAttributes, "voicemode.transport");
export const PROVIDER_ROLE = known(CONTRACT.pointAttributes, "voicemode.provider.role");
export const PROVIDER_NAME = known(CONTRACT.pointAttributes, "voicemode.provider.name");

export const SERVICE_NAME = known(CONTRACT.resourceAttributes, "service.name");
export const TELEMETRY_ID = known(CONTRACT.resourceAttributes, "voicemode.telemetry.id");
