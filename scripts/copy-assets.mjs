// Part of `npm run build`: tsc emits only .ts, so the files the compiled code reads at run
// time are copied next to it in dist/: the observer page (plain HTML, CSS and JS modules
// in lib/observer/page/) and the embedded API server's generated data (protobuf and
// OpenAPI schemas in lib/testing/apiserver/data/, read by protobuf.ts and openapi-v2.ts).
import { cpSync } from 'node:fs'

for (const dir of ['observer/page', 'testing/apiserver/data']) {
  cpSync(new URL(`../lib/${dir}/`, import.meta.url), new URL(`../dist/${dir}/`, import.meta.url), { recursive: true })
  console.log(`copied lib/${dir} -> dist/${dir}`)
}
