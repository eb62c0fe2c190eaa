// Tables of a results object (what run.mjs writes to bench/results.json): aligned text for the
// terminal, Markdown for the README.

const integer = (n) => Math.round(n).toLocaleString('en')
const fixed = (digits) => (n) => (n === undefined ? '' : n.toFixed(digits))

/** Spread of a row's rounds around its median, as ± half the min-max range in %. */
function spread(values, mid) {
  if (values.length < 2) return ''
  return `±${Math.round(((Math.max(...values) - Math.min(...values)) / 2 / mid) * 100)}%`
}

function sections(results) {
  const out = []
  const micro = results.rows.filter((r) => r.part === 'micro')
  const groups = [...new Set(micro.map((r) => r.group))]
  for (const group of groups) {
    const rows = micro.filter((r) => r.group === group)
    out.push({
      title: `${group}: ratio = ops/s ÷ ops/s of "${rows.find((r) => r.reference).name}"`,
      head: ['row', 'ops/s', 'µs/op', 'ratio', 'rounds'],
      align: ['l', 'r', 'r', 'r', 'r'],
      body: rows.map((r) => [
        r.name,
        integer(r.opsPerSecond),
        fixed(2)(1e6 / r.opsPerSecond),
        fixed(2)(r.ratio),
        spread(r.rounds, r.opsPerSecond),
      ]),
    })
  }
  const http = results.rows.filter((r) => r.part === 'http')
  for (const group of [...new Set(http.map((r) => r.group))]) {
    const rows = http.filter((r) => r.group === group)
    out.push({
      title: `${group}: GET /me, ratio = req/s ÷ req/s without auth; CPU = server CPU µs per request`,
      head: ['row', 'req/s', 'ratio', 'CPU µs/req', 'p99 ms', 'rounds'],
      align: ['l', 'r', 'r', 'r', 'r', 'r'],
      body: rows.map((r) => [
        // A mirror that did not answer from memory for part of a round (went down, or a late
        // heartbeat) measured some server reads: marked, with the worst round's share.
        r.mirrorNotAnswering > 0.01
          ? `${r.name} (mirror not answering ${Math.round(r.mirrorNotAnswering * 100)}% of a round)`
          : r.name,
        integer(r.requestsPerSecond),
        fixed(2)(r.ratio),
        fixed(0)(r.cpuMicrosPerRequest),
        fixed(1)(r.latencyP99Ms),
        spread(
          r.rounds.map((s) => s.requestsPerSecond),
          r.requestsPerSecond,
        ),
      ]),
    })
  }
  const memory = results.rows.filter((r) => r.part === 'memory')
  if (memory.length > 0) {
    out.push({
      title: 'memory: heap kept (heapUsed after GC, minus the baseline)',
      head: ['row', 'MiB'],
      align: ['l', 'r'],
      body: memory.map((r) => [r.name, fixed(1)(r.heapMiB)]),
    })
  }
  const mirrorMemory = results.rows.filter((r) => r.group === 'mirror memory')
  if (mirrorMemory.length > 0) {
    out.push({
      title: 'mirror memory: heap kept by a mirrored store (heapUsed after GC, minus the baseline)',
      head: ['row', 'entries', 'MiB'],
      align: ['l', 'r', 'r'],
      body: mirrorMemory.map((r) => [r.name, integer(r.entries), fixed(1)(r.heapMiB)]),
    })
  }
  const delay = results.rows.filter((r) => r.group === 'mirror delay')
  if (delay.length > 0) {
    out.push({
      title: 'mirror delay: from a write acknowledged (another store) until getLocal shows it, ms',
      head: ['row', 'revocations', 'p50', 'p99', 'max'],
      align: ['l', 'r', 'r', 'r', 'r'],
      body: delay.map((r) => [
        r.name,
        integer(r.samples),
        fixed(2)(r.p50Ms),
        fixed(2)(r.p99Ms),
        fixed(2)(r.maxMs),
      ]),
    })
  }
  return out
}

function describe(results) {
  const m = results.machine
  const load = `load average ${m.loadAverage.before[0]} before, ${m.loadAverage.after[0]} after`
  const authx = `authx ${results.authx.commit}${results.authx.dirty ? ' + uncommitted changes' : ''}`
  return `${m.cpu}, ${m.cores} cores, ${m.os}, Node ${results.node}; ${results.date}; ${results.mode} run; ${authx}; ${load}`
}

export function textTables(results) {
  const lines = [describe(results)]
  for (const section of sections(results)) {
    const widths = section.head.map((h, i) => Math.max(h.length, ...section.body.map((row) => row[i].length)))
    const line = (cells) =>
      cells.map((c, i) => (section.align[i] === 'l' ? c.padEnd(widths[i]) : c.padStart(widths[i]))).join('  ')
    lines.push('', section.title, line(section.head), ...section.body.map(line))
  }
  return lines.join('\n')
}

export function markdownTables(results) {
  const lines = [`Measured on ${describe(results)}.`]
  for (const section of sections(results)) {
    lines.push('', `**${section.title}**`, '')
    lines.push(`| ${section.head.join(' | ')} |`)
    lines.push(`|${section.align.map((a) => (a === 'l' ? '---' : '---:')).join('|')}|`)
    for (const row of section.body) lines.push(`| ${row.join(' | ')} |`)
  }
  return lines.join('\n')
}

export function targetLines(results) {
  return results.targets.map((t) => `${t.met ? 'met    ' : 'NOT met'}  ${t.figure}: ${t.measured}`)
}
