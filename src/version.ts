import { createRequire } from 'node:module';

/** toolgate's version, read once from package.json (the one place it is written). */
export const TOOLGATE_VERSION: string = (createRequire(import.meta.url)('../package.json') as { version: string }).version;
