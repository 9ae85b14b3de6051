// A small HTTP app traced by NAVER's Pinpoint Node.js agent, configured only
// as its users configure it: the PINPOINT_* variables. It drives its own
// traffic, APP_RATE requests a second to itself, each traced (with
// PINPOINT_SAMPLING_RATE=1) and so one span.
//
// It reports on standard output, one line each:
//   listening PORT      once it serves
//   served N            every APP_REPORT_MS, N traced requests answered so far
//   stopped N           after "stop" on standard input: no more traffic
// and exits when its standard input closes.
'use strict'

require('pinpoint-node-agent')

const http = require('http')
const readline = require('readline')

const rate = Number(process.env.APP_RATE || 20)
const reportEvery = Number(process.env.APP_REPORT_MS || 500)

let served = 0
const server = http.createServer((req, res) => {
  res.on('finish', () => { served++ })
  res.end('ok')
})

// keepAlive: one connection to itself, not one per request.
const client = new http.Agent({ keepAlive: true, maxSockets: 4 })
let traffic
let report

server.listen(0, '127.0.0.1', () => {
  const port = server.address().port
  console.log(`listening ${port}`)
  traffic = setInterval(() => {
    http.get({ host: '127.0.0.1', port, path: '/', agent: client }, (res) => res.resume())
      .on('error', () => {})
  }, 1000 / rate)
  report = setInterval(() => console.log(`served ${served}`), reportEvery)
})

const input = readline.createInterface({ input: process.stdin })
input.on('line', (line) => {
  if (line.trim() !== 'stop') {
    return
  }
  clearInterval(traffic)
  // The last requests are answered within a few milliseconds.
  setTimeout(() => console.log(`stopped ${served}`), 200)
})
input.on('close', () => process.exit(0))
