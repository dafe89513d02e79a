import diagnostics from 'node:diagnostics_channel'
import { BaseRequestHandler } from '@socketserver/core'
import { afterEach, describe, expect, it } from 'vitest'
import { EventLoopMemoryServer, type MemoryRequest, MemoryServer } from './helpers/memory-server.js'
import { waitFor } from './helpers/wait.js'

// Every mode that runs a request on this thread runs core's one lifecycle (lifecycle.ts): the
// one-at-a-time server and the event-loop mode must do the same things in the same order. Every
// combination of how each handler step ends is run in both and checked against runHandler's rules.

type Outcome = 'ok' | 'async' | 'throw' | 'reject'
const OUTCOMES: Outcome[] = ['ok', 'async', 'throw', 'reject']

function act(log: string[], step: string, outcome: Outcome): void | Promise<void> {
  log.push(step)
  const error = new Error(`${step} failed`)
  if (outcome === 'ok') return
  if (outcome === 'throw') throw error
  return new Promise<void>((resolve, reject) =>
    setImmediate(() => (outcome === 'reject' ? reject(error) : resolve())),
  )
}

interface Plan {
  construct?: 'throw'
  setup?: Outcome
  handle?: Outcome
  finish?: Outcome
  /** finishRequest overridden on the server (runs instead of the handler). */
  custom?: Outcome
  asyncHandleError?: boolean
}

function logged<T extends new (...args: any[]) => MemoryServer>(Base: T) {
  return class Logged extends Base {
    log: string[] = []
    plan: Plan = {}
    override handleError(_request: MemoryRequest, _clientAddress: string, error: unknown) {
      this.log.push(`handleError: ${(error as Error).message}`)
      if (this.plan.asyncHandleError) {
        return new Promise<void>((resolve) =>
          setImmediate(() => {
            this.log.push('handleError done')
            resolve()
          }),
        )
      }
    }
    override shutdownRequest(request: MemoryRequest): void {
      this.log.push('shutdownRequest')
      super.shutdownRequest(request)
    }
  }
}
type LoggedClass = ReturnType<typeof logged<typeof MemoryServer>>
type Logged = InstanceType<LoggedClass>

/** finishRequest() overridden: it runs instead of the handler. */
function custom(Base: LoggedClass): LoggedClass {
  return class extends Base {
    override finishRequest(): Promise<void> {
      return act(this.log, 'finishRequest', this.plan.custom ?? 'ok') as Promise<void>
    }
  }
}

const modes: Record<string, LoggedClass> = {
  'one at a time': logged(MemoryServer),
  'event loop': logged(EventLoopMemoryServer),
}

function handlerFor(server: Logged) {
  return class extends BaseRequestHandler<MemoryRequest, string, Logged> {
    constructor(request: MemoryRequest, clientAddress: string, owner: Logged) {
      if (server.plan.construct) throw new Error('constructor failed')
      super(request, clientAddress, owner)
    }
    override setup() {
      return act(server.log, 'setup', server.plan.setup ?? 'ok')
    }
    override handle() {
      return act(server.log, 'handle', server.plan.handle ?? 'ok')
    }
    override finish() {
      return act(server.log, 'finish', server.plan.finish ?? 'ok')
    }
  }
}

const servers: Logged[] = []
afterEach(async () => {
  for (const server of servers.splice(0)) await server.serverClose()
})

async function runOnce(Server: LoggedClass, plan: Plan): Promise<string[]> {
  const server = new Server('memory', BaseRequestHandler, { bindAndActivate: false })
  servers.push(server)
  const Handler = handlerFor(server)
  ;(server as { RequestHandlerClass: unknown }).RequestHandlerClass = Handler
  server.plan = plan
  let ended = false
  const onEnd = (message: unknown) => {
    if ((message as { server: unknown }).server !== server) return
    server.log.push(`request:end (active ${server.activeRequestCount})`)
    ended = true
  }
  diagnostics.subscribe('socketserver:request:end', onEnd)
  try {
    const { request } = server.receive()
    await server.handleRequest()
    await waitFor(() => ended, 'request:end')
    expect(request.releases).toEqual(['shutdown'])
    return server.log
  } finally {
    diagnostics.unsubscribe('socketserver:request:end', onEnd)
  }
}

// What runHandler's rules say should happen, step by step.
function expected(plan: Plan): string[] {
  const log: string[] = []
  const failed = (outcome: Outcome | undefined) => outcome === 'throw' || outcome === 'reject'
  let error: string | undefined
  if (plan.custom) {
    log.push('finishRequest')
    if (failed(plan.custom)) error = 'finishRequest failed'
  } else if (plan.construct) error = 'constructor failed'
  else {
    log.push('setup')
    if (failed(plan.setup)) error = 'setup failed'
    else {
      log.push('handle', 'finish')
      if (failed(plan.handle)) error = 'handle failed'
      if (failed(plan.finish)) error = 'finish failed' // finish()'s own error wins
    }
  }
  if (error) log.push(`handleError: ${error}`)
  if (error && plan.asyncHandleError) log.push('handleError done')
  log.push('shutdownRequest', 'request:end (active 0)')
  return log
}

const plans: Plan[] = [{ construct: 'throw' }, { construct: 'throw', asyncHandleError: true }]
for (const setup of OUTCOMES)
  for (const handle of OUTCOMES) for (const finish of OUTCOMES) plans.push({ setup, handle, finish })
for (const custom of OUTCOMES) plans.push({ custom }, { custom, asyncHandleError: true })
plans.push(
  { handle: 'reject', asyncHandleError: true },
  { finish: 'async', handle: 'throw', asyncHandleError: true },
)

for (const [mode, Base] of Object.entries(modes)) {
  describe(`${mode}: handler steps, errors, shutdown and tracking`, () => {
    it.each(plans.map((plan) => [JSON.stringify(plan), plan] as const))('%s', async (_name, plan) => {
      const Server = plan.custom ? custom(Base) : Base
      expect(await runOnce(Server, plan)).toEqual(expected(plan))
    })
  })
}
