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
