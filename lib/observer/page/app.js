// The observer page: renders the feed of samples (Server-Sent Events from /feed) with
// Preact + htm, both vendored and served by the observer itself (no CDN, no build step).
// Plain ES module, no types: browsers cannot strip TypeScript. Layout: the process tree on
// the left; watchers, queues/controllers and leadership on the right; a process's detail
// in a drawer.
import htm from 'htm'
import { h, render } from 'preact'
import { useCallback, useEffect, useMemo, useRef, useState } from 'preact/hooks'

const html = htm.bind(h)

// ── the token: taken from ?token= once, kept for this tab, removed from the address bar ──
const TOKEN_KEY = 'kubevisor-observer-token'
const params = new URLSearchParams(location.search)
const token = params.get('token') ?? sessionStorage.getItem(TOKEN_KEY) ?? ''
if (params.has('token')) {
  sessionStorage.setItem(TOKEN_KEY, token)
  history.replaceState(null, '', location.pathname)
}
const withToken = (path) => (token ? `${path}${path.includes('?') ? '&' : '?'}token=${encodeURIComponent(token)}` : path)
const authHeaders = token ? { authorization: `Bearer ${token}` } : {}

async function post(path) {
  const res = await fetch(path, { method: 'POST', headers: { ...authHeaders, 'content-type': 'application/json' }, body: '{}' })
  if (!res.ok) throw new Error((await res.json().catch(() => ({}))).error ?? `HTTP ${res.status}`)
  return res.json()
}

// ── render timings, read by bench/observer.ts: feed event received → rendered (ms) ──
const timings = { samples: 0, receivedAt: 0, renders: [] }
globalThis.kubevisorObserver = timings
/** `#expand-all` opens every node of the tree (the benchmark's worst case). */
const EXPAND_ALL = location.hash === '#expand-all'

// ── formatting ──────────────────────────────────────────────────────────────────────
function duration(ms) {
  if (ms === undefined || ms === null) return '–'
  if (ms < 1000) return `${Math.round(ms)} ms`
  const s = ms / 1000
  if (s < 60) return `${s.toFixed(s < 10 ? 1 : 0)} s`
  const m = Math.floor(s / 60)
  if (m < 60) return `${m}m ${String(Math.floor(s % 60)).padStart(2, '0')}s`
  const hrs = Math.floor(m / 60)
  if (hrs < 48) return `${hrs}h ${String(m % 60).padStart(2, '0')}m`
  return `${Math.floor(hrs / 24)}d ${hrs % 24}h`
}
const rate = (n) => (n === undefined ? '–' : n === 0 ? '0' : n < 10 ? n.toFixed(1) : String(Math.round(n)))
const short = (text, max) => (text && text.length > max ? `${text.slice(0, max - 1)}…` : (text ?? ''))

// ── the feed ────────────────────────────────────────────────────────────────────────
function useFeed() {
  const [sample, setSample] = useState(null)
  const [connection, setConnection] = useState('connecting')
  useEffect(() => {
    const source = new EventSource(withToken('./feed'))
    source.addEventListener('sample', (event) => {
      timings.samples++
      timings.receivedAt = performance.now()
      setSample(JSON.parse(event.data))
      setConnection('live')
    })
    source.onerror = () => setConnection('reconnecting')
    return () => source.close()
  }, [])
  return [sample, connection]
}

// ── the tree ────────────────────────────────────────────────────────────────────────
const SHOWN_PER_PARENT = 200
const AUTO_COLLAPSE_ABOVE = 50

function rowKey(row) {
  return row.id === null ? `${row.parent}/${row.child}` : String(row.id)
}

/** Rows are one line each (CSS fixes their height), so the tree renders only those in view. */
const ROW_HEIGHT = 21
const OVERSCAN = 15

function Tree({ rows, selected, onSelect }) {
  const [open, setOpen] = useState({})
  const [showAll, setShowAll] = useState({})
  const [view, setView] = useState({ top: 0, height: 800 })
  const scroller = useRef(null)
  const children = useMemo(() => {
    const map = new Map()
    for (const row of rows) {
      const list = map.get(row.parent) ?? []
      list.push(row)
      map.set(row.parent, list)
    }
    return map
  }, [rows])
  // The rows to show, in order: expanded nodes' children, "show more" after a long list.
  const items = []
  const walk = (parent) => {
    const list = children.get(parent) ?? []
    const limit = showAll[parent] ? list.length : SHOWN_PER_PARENT
    for (let i = 0; i < list.length && i < limit; i++) {
      const row = list[i]
      const kids = row.id === null ? 0 : (children.get(row.id)?.length ?? 0)
      const isOpen = open[row.id] ?? (EXPAND_ALL || row.parent === null || kids <= AUTO_COLLAPSE_ABOVE)
      items.push({ row, kids, isOpen })
      if (kids > 0 && isOpen) walk(row.id)
    }
    if (list.length > limit) items.push({ more: parent, count: list.length - limit })
  }
  walk(null)
  useEffect(() => {
    const el = scroller.current
    if (!el) return
    const measure = () => setView({ top: el.scrollTop, height: el.clientHeight })
    measure()
    el.addEventListener('scroll', measure, { passive: true })
    window.addEventListener('resize', measure)
    return () => {
      el.removeEventListener('scroll', measure)
      window.removeEventListener('resize', measure)
    }
  }, [])
  const first = Math.max(0, Math.floor(view.top / ROW_HEIGHT) - OVERSCAN)
  const last = Math.min(items.length, Math.ceil((view.top + view.height) / ROW_HEIGHT) + OVERSCAN)
  const shown = items.slice(first, last).map((item) =>
    item.row
      ? html`<${TreeRow} key=${rowKey(item.row)} row=${item.row} kids=${item.kids} isOpen=${item.isOpen} selected=${selected === item.row.id}
          onToggle=${() => setOpen({ ...open, [item.row.id]: !item.isOpen })} onSelect=${onSelect} />`
      : html`<tr key=${`more-${item.more}`}><td colspan="7" class="more">
          <button class="link" onClick=${() => setShowAll({ ...showAll, [item.more]: true })}>show ${item.count} more</button></td></tr>`,
  )
  return html`<div class="tree-scroll" ref=${scroller}><table class="grid tree" data-section="tree" data-rows=${items.length}>
    <thead><tr><th>Process</th><th>Behaviour</th><th>Status</th><th class="n" title="messages waiting in the mailbox">Mbox</th>
      <th class="n" title="messages handled per second">Msg/s</th><th class="n" title="time since its last (re)start">Up</th><th class="n" title="restarts by its supervisor; the restart type is permanent unless a badge says transient or temporary">Rst</th></tr></thead>
    <tbody>
      ${first > 0 ? html`<tr key="above" class="spacer" style=${`height:${first * ROW_HEIGHT}px`}></tr>` : ''}
      ${shown}
      ${last < items.length ? html`<tr key="below" class="spacer" style=${`height:${(items.length - last) * ROW_HEIGHT}px`}></tr>` : ''}
    </tbody></table></div>`
}

/** Short strategy labels for the tree's badges (the full name is in the tooltip). */
const STRATEGY = { one_for_one: '1:1', one_for_all: '1:all', rest_for_one: 'rest' }

function TreeRow({ row, kids, isOpen, selected, onToggle, onSelect }) {
  const label = row.name ?? row.child ?? (row.parent === null ? 'root' : '')
  const sup = row.supervisor
  return html`<tr class=${`${selected ? 'selected' : ''} status-${row.status}`} data-pid=${row.id ?? ''} data-child=${row.child ?? ''}
      onClick=${() => row.id !== null && onSelect(row.id)}>
    <td class="proc" style=${`padding-left:${6 + row.depth * 14}px`}>
      ${kids > 0 ? html`<button class="toggle" aria-label=${isOpen ? 'collapse' : 'expand'} onClick=${(e) => { e.stopPropagation(); onToggle() }}>${isOpen ? '▾' : '▸'}</button>` : html`<span class="toggle"></span>`}
      <span class="label">${label}</span>${row.id !== null ? html` <span class="pid">#${row.id}</span>` : ''}
      ${sup ? html` <span class="badge" title=${`${sup.strategy}: ${sup.restartsInWindow} restarts in the last ${sup.maxSeconds} s, ${sup.maxRestarts} allowed`}>${STRATEGY[sup.strategy] ?? sup.strategy} ${sup.restartsInWindow}/${sup.maxRestarts}</span>` : ''}
      ${row.restart && row.restart !== 'permanent' ? html` <span class="badge" title="restart type (permanent unless shown)">${row.restart}</span>` : ''}
      ${kids > 0 && !isOpen ? html` <span class="dim">(${kids})</span>` : ''}
    </td>
    <td class="beh" title=${row.behaviour}>${row.behaviour}</td>
    <td title=${row.status}><span class=${`status ${row.status}`}>${row.status === 'running' ? '●' : row.status}</span></td>
    <td class=${`n ${row.mailbox > 100 ? 'warn' : ''}`}>${row.id === null ? '' : row.mailbox}</td>
    <td class="n">${row.id === null ? '' : rate(row.rate)}</td>
    <td class="n">${row.id === null ? '' : duration(row.uptimeMs)}</td>
    <td class="n" title=${row.restart ?? ''}>${row.restarts ?? ''}</td>
  </tr>`
}

// ── watchers ────────────────────────────────────────────────────────────────────────
function phaseText(w) {
  if (w.phase === 'Waiting') return `Backoff ${duration(w.waitMs)}`
  if (w.phase === 'Watching' && !w.open) return 'Watching (opening)'
  return w.phase
}

function Watchers({ watchers, actions, onSelect, notify }) {
  if (watchers.length === 0) return html`<p class="empty">No watchers in these trees.</p>`
  return html`<table class="grid watchers" data-section="watchers">
    <thead><tr><th>Watcher</th><th title="engine phase; ✓ once synced">Phase</th><th title="last resourceVersion seen">RV</th>
      <th class="n" title="events per second: added / modified / deleted / bookmarks">Ev/s +/~/−/bm</th>
      <th class="n" title="relists">Rel</th><th class="n" title="410 Gone answers">410</th><th class="n" title="decode errors">Dec</th><th class="n" title="stalled streams">Stl</th>
      <th class="n" title="restarts: connection / handler">Rst</th><th class="n" title="objects in the store (or known)">Objs</th>${actions ? html`<th></th>` : ''}</tr></thead>
    <tbody>${watchers.map((w) => {
      const c = w.counters
      const r = w.eventRates
      const problem = w.lastProblem
      return html`<tr key=${w.id} data-watcher=${w.name} data-phase=${w.phase} class=${problem ? 'has-sub' : ''}>
        <td class="name" rowspan=${problem ? 2 : 1}><button class="link" onClick=${() => onSelect(w.id)} title=${`${w.name}: ${w.target}${w.namespace ? ` in ${w.namespace}` : ''}`}>${w.name}</button></td>
        <td><span class=${`phase ${w.phase}`} title=${w.phase === 'Waiting' && problem ? problem.message : ''}>${phaseText(w)}</span> <span data-field="synced" title=${w.synced ? 'synced' : 'not synced yet'}>${w.synced ? '✓' : '…'}</span></td>
        <td class="mono rv" title=${w.resourceVersion ?? ''}>${w.resourceVersion ?? '–'}</td>
        <td class="n mono rates">${rate(r.ADDED)}/${rate(r.MODIFIED)}/${rate(r.DELETED)}/${rate(r.BOOKMARK)}</td>
        <td class="n" data-field="relists">${c.relists}</td>
        <td class="n" data-field="gone">${c.gone}</td>
        <td class="n" data-field="decodeErrors">${c.decodeErrors}</td>
        <td class="n" data-field="stalls">${c.stalls}</td>
        <td class="n" data-field="restarts" data-connection-restarts=${w.connectionRestarts}>${w.connectionRestarts}/${w.handlerRestarts}</td>
        <td class="n">${w.storeSize ?? w.known}</td>
        ${actions ? html`<td class="actions">
          <button data-action="relist" title="force a relist" aria-label="relist" onClick=${() => post(`./api/watcher/${w.id}/relist`).then(() => notify(`relisting ${w.name}`), (e) => notify(e.message))}>↻</button>
          ${w.connection !== null ? html`<button data-action="kill-connection" class="danger" title=${`kill the connection process #${w.connection}`}
            aria-label="kill connection" onClick=${() => post(`./api/process/${w.connection}/kill`).then(() => notify(`killed ${w.name}'s connection #${w.connection}`), (e) => notify(e.message))}>✕</button>` : ''}
        </td>` : ''}
      </tr>
      ${problem ? html`<tr key=${`${w.id}-problem`} class="sub"><td colspan=${actions ? 11 : 10} class=${`problem ${problem.level}`} data-field="lastProblem" title=${problem.message}>
        <span class="dim">last problem ${duration(problem.ageMs)} ago:</span> ${problem.message}</td></tr>` : ''}`
    })}</tbody></table>`
}

// ── queues and controllers ──────────────────────────────────────────────────────────
function Pools({ pools, onSelect }) {
  if (pools.length === 0) return html`<p class="empty">No queues or controllers in these trees.</p>`
  return html`<table class="grid queues" data-section="queues">
    <thead><tr><th>Queue / controller</th><th class="n">Depth</th><th class="n" title="delayed: waiting for a backoff or requeue-after">Delayed</th><th class="n">Adds/s</th>
      <th class="n" title="retries: rate-limited re-adds and requeue-afters">Retries</th><th class="n" title="age of the oldest unfinished key">Oldest</th><th class="n">Workers</th>
      <th class="n">Rec/s</th><th class="n">Err/s</th><th>Slowest in flight</th></tr></thead>
    <tbody>${pools.map((p) => html`<tr key=${p.id} data-queue=${p.name}>
      <td class="name"><button class="link" onClick=${() => onSelect(p.id)} title=${p.name}>${p.name}</button>${p.shuttingDown ? html` <span class="badge">draining</span>` : ''}</td>
      <td class="n" data-field="depth">${p.depth}</td>
      <td class="n">${p.delayed}</td>
      <td class="n">${rate(p.addsPerSecond)}</td>
      <td class="n">${p.retriesTotal}</td>
      <td class="n">${p.oldestMs === undefined ? '–' : duration(p.oldestMs)}</td>
      <td class="n">${p.activeWorkers}/${p.maxWorkers}</td>
      <td class="n">${rate(p.reconcilesPerSecond)}</td>
      <td class=${`n ${p.errorsPerSecond > 0 ? 'warn' : ''}`}>${rate(p.errorsPerSecond)}</td>
      <td class="mono slowest" title=${p.slowest.map((k) => `${k.key} (${duration(k.ageMs)})`).join('\n')}>${p.slowest.length === 0 ? '–' : p.slowest.slice(0, 3).map((k) => `${short(k.key, 28)} (${duration(k.ageMs)})`).join(', ')}</td>
    </tr>`)}</tbody></table>`
}

// ── leadership ──────────────────────────────────────────────────────────────────────
function Leadership({ lead }) {
  if (!lead) return null
  const renew = typeof lead.renewTime === 'number' ? new Date(lead.renewTime).toISOString() : (lead.renewTime ?? '–')
  return html`<section class="panel" data-section="leadership"><h2>Leadership</h2>
    <dl class="facts"><dt>This replica</dt><dd class="mono">${lead.identity}</dd>
      <dt>Role</dt><dd><span class=${`status ${lead.isLeader ? 'running' : 'starting'}`}>${lead.isLeader ? 'leader' : 'follower'}</span></dd>
      <dt>Lease holder</dt><dd class="mono">${lead.holder ?? '–'}</dd><dt>Renewed</dt><dd class="mono">${renew}</dd>
      ${lead.lease ? html`<dt>Lease</dt><dd class="mono">${lead.lease}</dd>` : ''}</dl></section>`
}

// ── process detail ──────────────────────────────────────────────────────────────────
function Detail({ id, actions, intervalMs, onClose, onSelect, notify }) {
  const [info, setInfo] = useState(null)
  const [error, setError] = useState(null)
  useEffect(() => {
    let stopped = false
    const load = () =>
      fetch(`./api/process/${id}`, { headers: authHeaders })
        .then((res) => (res.ok ? res.json() : res.json().then((b) => Promise.reject(new Error(b.error ?? `HTTP ${res.status}`)))))
        .then(
          (body) => {
            if (stopped) return
            setInfo(body)
            setError(null)
          },
          (e) => {
            if (!stopped) setError(e.message)
          },
        )
    load()
    const timer = setInterval(load, intervalMs)
    return () => {
      stopped = true
      clearInterval(timer)
    }
  }, [id, intervalMs])
  const pids = (list) => (list.length === 0 ? '–' : list.map((p) => html`<button class="link mono" onClick=${() => onSelect(p.id)}>#${p.id}${p.name ? `(${p.name})` : ''}</button> `))
  return html`<aside class="drawer" data-section="detail">
    <header><h2>Process #${id}${info?.name ? ` (${info.name})` : ''}</h2><button class="close" aria-label="close" onClick=${onClose}>×</button></header>
    ${error ? html`<p class="warn">${error}</p>` : ''}
    ${info ? html`
      <dl class="facts">
        <dt>Behaviour</dt><dd>${info.behaviour}${info.roles.length ? html` <span class="dim">(${info.roles.join(', ')})</span>` : ''}</dd>
        <dt>Status</dt><dd><span class=${`status ${info.status}`}>${info.status}</span></dd>
        <dt>Mailbox</dt><dd>${info.mailbox}</dd><dt>Handled</dt><dd>${info.handled}</dd>
        <dt>Traps exits</dt><dd>${info.trapExit ? 'yes' : 'no'}</dd>
        <dt>Parent</dt><dd>${info.parent ? pids([{ id: info.parent }]) : '–'}</dd>
        <dt>Links</dt><dd>${pids(info.links)}</dd><dt>Monitors</dt><dd>${pids(info.monitors)}</dd><dt>Monitored by</dt><dd>${pids(info.monitoredBy)}</dd>
      </dl>
      ${actions && info.status !== 'exited' ? html`<p><button class="danger" data-action="kill" onClick=${() => post(`./api/process/${id}/kill`).then(() => notify(`killed #${id}`), (e) => notify(e.message))}>kill process</button></p>` : ''}
      <h3>State <span class="dim">(formatStatus)</span></h3>
      <pre class="state">${JSON.stringify(info.state, null, 2) ?? 'undefined'}</pre>
      <h3>Last log lines</h3>
      ${info.logs === null ? html`<p class="dim">Log capture is off (pass ObserverLogs to the observer and tee the logger into it).</p>`
        : info.logs.length === 0 ? html`<p class="dim">No lines yet.</p>`
        : html`<ol class="logs">${info.logs.slice().reverse().map((l) => html`<li class=${l.level}><span class="mono dim">${new Date(l.time).toISOString().slice(11, 23)}</span> <b>${l.level}</b> ${l.msg} <span class="dim mono">${Object.keys(l.fields).length ? JSON.stringify(l.fields) : ''}</span></li>`)}</ol>`}
    ` : html`<p class="dim">Loading…</p>`}
  </aside>`
}

// ── the page ────────────────────────────────────────────────────────────────────────
function App() {
  const [sample, connection] = useFeed()
  const [selected, setSelected] = useState(null)
  const [message, setMessage] = useState(null)
  useEffect(() => {
    if (!sample) return
    timings.renders.push(performance.now() - timings.receivedAt)
    if (timings.renders.length > 200) timings.renders.shift()
  }, [sample])
  const notify = useCallback((text) => {
    setMessage(text)
    setTimeout(() => setMessage((m) => (m === text ? null : m)), 4000)
  }, [])
  if (!sample) return html`<p class="boot">Connecting to the observer feed… (${connection})</p>`
  const live = sample.processes.filter((p) => p.id !== null).length
  return html`<div class="page">
    <header class="top">
      <h1>kubevisor <span>observer</span></h1>
      <span class=${`conn ${connection}`} data-connection=${connection}>${connection}</span>
      <span class="dim">${live} processes · ${sample.watchers.length} watchers · ${sample.pools.length} queues · sampled in ${sample.costMs.toFixed(1)} ms · every ${duration(sample.intervalMs)}</span>
      ${sample.leadership ? html`<span class=${`badge ${sample.leadership.isLeader ? 'leader' : ''}`}>${sample.leadership.isLeader ? 'leader' : 'follower'}</span>` : ''}
      <span class=${`badge ${sample.actions ? 'armed' : ''}`} title="actions are enabled with { actions: true }">${sample.actions ? 'actions on' : 'read-only'}</span>
      ${message ? html`<span class="toast" role="status">${message}</span>` : ''}
    </header>
    <main class="cols">
      <section class="panel left"><h2>Supervision tree</h2>
        <${Tree} rows=${sample.processes} selected=${selected} onSelect=${setSelected} /></section>
      <div class="right">
        <section class="panel"><h2>Watchers</h2><${Watchers} watchers=${sample.watchers} actions=${sample.actions} onSelect=${setSelected} notify=${notify} /></section>
        <section class="panel"><h2>Queues and controllers</h2><${Pools} pools=${sample.pools} onSelect=${setSelected} /></section>
        <${Leadership} lead=${sample.leadership} />
      </div>
    </main>
    ${selected !== null ? html`<${Detail} id=${selected} actions=${sample.actions} intervalMs=${sample.intervalMs} onClose=${() => setSelected(null)} onSelect=${setSelected} notify=${notify} />` : ''}
  </div>`
}

render(html`<${App} />`, document.getElementById('app'))
