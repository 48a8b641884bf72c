#!/usr/bin/env node
// Loads Chrome trace JSON files with speedscope's own importer (the npm
// package's browser bundle, evaluated in node with its importer exposed) and
// counts the warnings it prints. Exit 1 when any file warns or fails.
//
//   npm install --prefix /tmp/viewers speedscope
//   node tools/speedscope_check.mjs /tmp/viewers/node_modules/speedscope reports/*/trace.chrome.json
import fs from 'node:fs'
import path from 'node:path'
import vm from 'node:vm'

const [pkg, ...files] = process.argv.slice(2)
if (!pkg || files.length === 0) {
  console.error('usage: speedscope_check.mjs SPEEDSCOPE_PACKAGE_DIR FILE...')
  process.exit(2)
}
const dir = path.join(pkg, 'dist', 'release')
const bundle = fs.readdirSync(dir).find(f => /^speedscope-.*\.js$/.test(f))
let src = fs.readFileSync(path.join(dir, bundle), 'utf8')
// The importer module is loaded lazily through a promise `X=Promise.resolve().then(()=>(init(),mod))`
// whose module exports importProfileGroupFromText; expose that promise.
const m = src.match(/async function \w+\(\w+,\w+\)\{return\(await (\w+)\)\.importProfileGroupFromText\(/)
if (!m) {
  console.error(`speedscope_check: cannot find the importer in ${bundle}`)
  process.exit(2)
}
const hook = new RegExp(`var ${m[1]}=Promise\\.resolve\\(\\)\\.then\\(\\(\\)=>\\(\\w+\\(\\),\\w+\\)\\);`)
if (!hook.test(src)) {
  console.error(`speedscope_check: cannot find where ${m[1]} is defined`)
  process.exit(2)
}
src = src.replace(hook, s => `${s}globalThis.__speedscopeImporter=${m[1]};`)
let warnings = []
const record = (...args) => warnings.push(args.map(String).join(' '))
const sandboxConsole = { ...console, warn: record, error: record, log: () => {}, info: () => {}, debug: () => {} }
const ctx = vm.createContext({
  console: sandboxConsole,
  TextDecoder, TextEncoder, URL, setTimeout, clearTimeout, queueMicrotask,
  performance, atob, btoa,
  navigator: { userAgent: 'node' },
  location: { hash: '', search: '', href: 'file:///' },
  localStorage: {},
  matchMedia: () => ({ matches: false, addEventListener() {}, addListener() {} }),
  addEventListener() {},
  requestAnimationFrame: () => 0,
  cancelAnimationFrame() {},
})
ctx.globalThis = ctx
ctx.window = ctx
ctx.self = ctx
// Anything else the UI half touches at load: an inert object that accepts every call.
const inert = new Proxy(function () {}, {
  get: (_, k) => (k === Symbol.toPrimitive ? () => '' : inert),
  apply: () => inert,
  construct: () => inert,
})
ctx.document = inert
try {
  vm.runInContext(src, ctx, { filename: bundle })
} catch (e) {
  // The UI half of the bundle needs a DOM; the importer does not.
  if (process.env.SPEEDSCOPE_DEBUG) console.error(e)
}
if (!ctx.__speedscopeImporter) {
  console.error('speedscope_check: the importer was not exposed')
  process.exit(2)
}
const importer = await ctx.__speedscopeImporter
let bad = 0
let total = 0
for (const f of files) {
  warnings = []
  const text = fs.readFileSync(f, 'utf8')
  let group
  try {
    group = await importer.importProfileGroupFromText(
      // A name ending in `.chrome.json` makes speedscope expect the bare
      // array form; ours is the object form, recognised by its content.
      path.basename(f).replace(/\.chrome\.json$/, '.json'),
      text,
    )
  } catch (e) {
    warnings.push(`import failed: ${e}`)
    if (process.env.SPEEDSCOPE_DEBUG) console.error(e)
  }
  if (!group && warnings.length === 0) warnings.push('not recognised as a profile')
  const profiles = group ? group.profiles.length : 0
  total += warnings.length
  if (warnings.length > 0) {
    bad += 1
    console.log(`${f}: ${profiles} profiles, ${warnings.length} warnings`)
    for (const w of warnings.slice(0, 3)) console.log(`  ${w.slice(0, 200)}`)
  } else {
    console.log(`${f}: ${profiles} profiles, ok`)
  }
}
console.log(`${files.length - bad} passed, ${bad} failed (${total} warnings)`)
process.exit(bad > 0 ? 1 : 0)
