/**
 * A report's period: [start, end) in whole UTC hours. The rules come from the
 * contract's `period` block; `now` is passed in so tests choose the clock.
 */
import { CONTRACT } from "../contract";

/** Unix seconds, both whole UTC hours, start < end. */
export interface Period {
	readonly start: number;
	readonly end: number;
}

const NANOS_PER_SECOND = 1_000_000_000n;

function days(seconds: number): string {
	return `${seconds / 86_400} days`;
}

/**
 * Checks period bounds given in Unix nanoseconds (as OTLP carries them). Returns the
 * period when every rule holds, and the rules broken otherwise.
 */
export function checkPeriod(startNs: bigint, endNs: bigint, nowNs: bigint): { period: Period | null; reasons: string[] } {
	const rules = CONTRACT.period;
	const hour = BigInt(rules.granularitySeconds) * NANOS_PER_SECOND;
	const reasons: string[] = [];
	if (startNs % hour !== 0n) reasons.push("start is not a whole UTC hour");
	if (endNs % hour !== 0n) reasons.push("end is not a whole UTC hour");
	if (startNs >= endNs) reasons.push("start must be before end");
	if (endNs - startNs > BigInt(rules.serverMaxSeconds) * NANOS_PER_SECOND) {
		reasons.push(`longer than ${days(rules.serverMaxSeconds)}`);
	}
	if (endNs > nowNs + BigInt(rules.futureSkewSeconds) * NANOS_PER_SECOND) reasons.push("ends in the future");
	if (endNs < nowNs - BigInt(rules.maxAgeSeconds) * NANOS_PER_SECOND) {
		reasons.push(`ended more than ${days(rules.maxAgeSeconds)} ago`);
	}
	if (reasons.length > 0) return { period: null, reasons };
	return { period: { start: Number(startNs / NANOS_PER_SECOND), end: Number(endNs / NANOS_PER_SECOND) }, reasons };
}

/** The UTC day (YYYY-MM-DD) of a Unix time in milliseconds. */
export function utcDay(ms: number): string {
	return new Date(ms).toISOString().slice(0, 10);
}

