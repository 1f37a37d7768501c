// Types of what scripts/gradual-deploy.mjs exports (plain Node, no build step), for its tests.
export function parseSteps(text: string): number[];
export function currentVersion(deployment: { versions?: { version_id: string; percentage: number }[] } | undefined): { id: string; error?: undefined } | { error: string; id?: undefined };
