// Types only the tests need.
declare namespace Cloudflare {
	// Bindings set in vitest.config.ts.
	interface Env {
		TEST_MIGRATIONS: import("cloudflare:test").D1Migration[];
		MIGRATION_DB: D1Database;
	}
	// Types `exports.default` (the Worker's own handler) from "cloudflare:workers".
	interface GlobalProps {
		mainModule: typeof import("../src/index");
	}
}
// Vite's `?raw` imports: a file's text (the tests read wrangler.jsonc this way).
declare module "*?raw" {
	const text: string;
	export default text;
}
// Vite's import.meta.glob as the tests use it (eager, each file's text), which Vite
// expands at build time: how a workerd test reads the Worker's own sources and docs.
interface ImportMeta {
	glob(pattern: string | readonly string[], options: { query: "?raw"; import: "default"; eager: true }): Record<string, string>;
}
