/**
 * Rate-limit buckets. The counting itself is done by upserts in the report's own DB.batch
 * (db/reports.ts): the ID's hourly count lives in its `installations` row, which every accepted
 * report upserts anyway (migration 0004), and the IP's in `rate_limits`. A CHECK on each
 * count makes an over-limit batch roll back whole, so both limits hold under any
 * concurrency and cost no extra round trip or row. Only stored reports count: invalid,
 * duplicate and refused requests write nothing.
 *
 * Client IPs never reach storage: the IP bucket is HMAC-SHA256(IP_HASH_KEY, ip ‖ UTC
 * day). Without the secret the hash cannot be brute-forced over the IPv4 space, and
 * the day in the input makes buckets of different days unlinkable. Erasures count in a
 * bucket of their own (`erase:` with the same hash), counted the same way (db/reports.ts).
 */
import { hmacHex } from "./hmac";

/** Fixed windows of one UTC hour. */
export const WINDOW_SECONDS = 3600;

export const LIMITS = {
	/** Accepted reports per installation ID per hour (the client sends one a day). */
	perId: 10,
	/** Accepted reports per client IP per hour (a Collector may relay many installations). */
	perIp: 100,
	/** Erasures per client IP per hour (a client asks for one when it opts out). */
	erasuresPerIp: 100,
} as const;

export interface Bucket {
	readonly bucket: string;
	readonly maxHits: number;
}

export interface Window {
	/** Unix seconds of the window's start. */
	readonly start: number;
	/** Seconds until the window ends: the Retry-After of a 429. */
	readonly retryAfter: number;
}

/** The window containing `nowMs`. */
export function currentWindow(nowMs: number): Window {
	const now = Math.floor(nowMs / 1000);
	const start = now - (now % WINDOW_SECONDS);
	return { start, retryAfter: start + WINDOW_SECONDS - now };
}

/** The ID's limit; `bucket` names it in outcomes (and in rate_limits rows written before migration 0004). */
export function idBucket(telemetryId: string): Bucket {
	return { bucket: `id:${telemetryId}`, maxHits: LIMITS.perId };
}

/** The IP's bucket for the UTC day of `nowMs`; `key` is the IP_HASH_KEY secret. */
export async function ipBucket(key: string, ip: string, nowMs: number): Promise<Bucket> {
	return { bucket: `ip:${await ipHash(key, ip, nowMs)}`, maxHits: LIMITS.perIp };
}

/**
 * The IP's bucket for erasures (DELETE /v1/installations/{id}) that day: limited like
 * reports, so nobody can flood the tombstone table (or probe IDs) from one address.
 */
export async function eraseBucket(key: string, ip: string, nowMs: number): Promise<Bucket> {
	return { bucket: `erase:${await ipHash(key, ip, nowMs)}`, maxHits: LIMITS.erasuresPerIp };
}

function ipHash(key: string, ip: string, nowMs: number): Promise<string> {
	const day = new Date(nowMs).toISOString().slice(0, 10);
	return hmacHex(key, `${ip}\n${day}`);
}
