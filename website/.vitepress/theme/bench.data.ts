// The figures of the landing page's chart, read at build time: the last
// `make bench` run on this machine (bench/out/results.json) if there is
// one, else the run recorded in data/bench-results.json.
import { existsSync, readFileSync } from 'node:fs'

const local = new URL('../../../bench/out/results.json', import.meta.url)
const recorded = new URL('../../data/bench-results.json', import.meta.url)

interface Case {
  title: string
  higher_is_better: boolean
  median: Record<string, number>
}

export interface Bar {
  title: string
  ratio: number // pinlb over nginx, oriented so that above 1 is better for pinlb
}

export default {
  watch: ['../../../bench/out/results.json', '../../data/bench-results.json'],
  load(): { machine: string; build: string; started: string; source: string; bars: Bar[] } {
    const file = existsSync(local) ? local : recorded
    const run = JSON.parse(readFileSync(file, 'utf8'))
    const bars = (run.cases as Case[])
      .filter((c) => c.median?.nginx > 0 && c.median?.pinlb > 0)
      .map((c) => ({
        title: c.title,
        ratio: c.higher_is_better ? c.median.pinlb / c.median.nginx : c.median.nginx / c.median.pinlb,
      }))
    return { machine: run.machine, build: run.build ?? '', started: run.started, source: file === local ? 'bench/out' : 'recorded', bars }
  },
}
