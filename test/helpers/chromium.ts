// The system Chromium the browser tests drive through playwright-core, headless and on loopback.

import { chromium, type Browser } from 'playwright-core';

/** Where `npm run setup -- --test` installs Chromium. */
export const CHROMIUM = '/usr/bin/chromium';

/** Flags for playing a baked file served from 127.0.0.1 (the GIF and WebM tests). */
export const MEDIA_FLAGS = ['--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking', '--disable-component-update', '--disable-sync'];

/** Flags for the service's own pages (the dashboard and progress tests). */
export const PAGE_FLAGS = ['--no-sandbox', '--disable-gpu', '--disable-dev-shm-usage', '--disable-background-networking', '--disable-component-update', '--disable-sync', '--no-first-run'];

/** Headless Chromium from CHROMIUM with exactly these flags. */
export function launchChromium(args: string[]): Promise<Browser> {
  return chromium.launch({ executablePath: CHROMIUM, headless: true, args });
}
