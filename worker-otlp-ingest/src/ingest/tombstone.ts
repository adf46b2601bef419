/**
 * The tombstone an erasure leaves (migration 0007): a keyed hash of the erased ID, never
 * the ID, kept as long as a report of the ID could still be accepted, so that no replay
 * and no report still in flight can store the ID again (db/reports.ts checks it inside each
 * report's batch). The client never makes a report for an ID it gave up, so every report
 * of an erased ID that could still arrive ended before the erasure: the Worker refuses
 * it anyway once it ended more than the contract's max_age ago. The longest period
 * (server_max_seconds) is kept on top, as margin.
 */
import { CONTRACT } from "../contract";
import { hmacHex } from "./hmac";

/** Seconds an erasure is remembered after it was asked for. */
export const ERASURE_KEEP_SECONDS = CONTRACT.period.maxAgeSeconds + CONTRACT.period.serverMaxSeconds;

export interface Tombstone {
	/** HMAC-SHA256(IP_HASH_KEY, "erased\n" ‖ ID), hex: matches the ID only for a holder of the secret. */
	readonly key: string;
	/** Unix seconds until which it is kept. */
	readonly until: number;
}

/** The tombstone key of `telemetryId`; `secret` is IP_HASH_KEY. Also what ingest looks up. */
export function tombstoneKey(secret: string, telemetryId: string): Promise<string> {
	return hmacHex(secret, `erased\n${telemetryId}`);
}

/** The tombstone of an erasure of `telemetryId` asked for at `nowMs`. */
export async function tombstone(secret: string, telemetryId: string, nowMs: number): Promise<Tombstone> {
	return { key: await tombstoneKey(secret, telemetryId), until: Math.floor(nowMs / 1000) + ERASURE_KEEP_SECONDS };
}
