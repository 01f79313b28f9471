// Part of `npm run build`: tsc emits only .ts, so the observer page (plain HTML, CSS and
// JS modules in lib/observer/page/) is copied next to the compiled server in
// dist/observer/page/, where it reads them at run time.
import { cpSync } from 'node:fs'

cpSync(new URL('../lib/observer/page/', import.meta.url), new URL('../dist/observer/page/', import.meta.url), { recursive: true })
console.log('copied lib/observer/page -> dist/observer/page')
