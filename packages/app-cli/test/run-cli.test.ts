import { type ChildProcess, spawn } from 'node:child_process'
import { existsSync } from 'node:fs'
import { fileURLToPath } from 'node:url'
import { choice, choiceList, integer, MAX_TIMER_MS, parseArgv, UsageError } from '@socketserver/app-cli'
import { afterEach, describe, expect, it } from 'vitest'

/** A CLI on the built runner: `pnpm build` first (the root `pnpm test` does). */
const DEMO = fileURLToPath(new URL('./fixtures/demo-cli.mjs', import.meta.url))
const DIST = fileURLToPath(new URL('../dist/index.js', import.meta.url))

const children = new Set<ChildProcess>()
afterEach(() => {
  for (const child of children)
    if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL')
  children.clear()
})

interface Demo {
  child: ChildProcess
  stdout(): string
  stderr(): string
  /** Resolves once stdout holds `text`. */
  printed(text: string): Promise<void>
  exit: Promise<{ code: number | null; signal: NodeJS.Signals | null }>
}

function demo(args: string[]): Demo {
  if (!existsSync(DIST)) throw new Error(`${DIST} is missing: run pnpm build first`)
  const child = spawn(process.execPath, [DEMO, ...args], { stdio: ['ignore', 'pipe', 'pipe'] })
  children.add(child)
  let out = ''
  let err = ''
  const waiting = new Set<() => void>()
  child.stdout!.setEncoding('utf8').on('data', (d: string) => {
    out += d
    for (const check of waiting) check()
  })
  child.stderr!.setEncoding('utf8').on('data', (d: string) => (err += d))
  // 'close' comes after 'exit' once the pipes are drained: the output is complete.
  const exit = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) =>
    child.once('close', (code, signal) => resolve({ code, signal })),
  )
  const printed = (text: string) =>
    new Promise<void>((resolve, reject) => {
      const check = () => {
        if (!out.includes(text)) return
        waiting.delete(check)
        resolve()
      }
      waiting.add(check)
      check()
      void exit.then(() =>
        reject(new Error(`exited before printing ${text}; stdout: ${out}; stderr: ${err}`)),
      )
    })
  return { child, stdout: () => out, stderr: () => err, printed, exit }
}

async function run(args: string[]) {
  const d = demo(args)
  const { code } = await d.exit
  return { code, stdout: d.stdout(), stderr: d.stderr() }
}

describe('runCli, in a process', () => {
  it.each([
    [['--bogus'], "demo: unknown option '--bogus'"],
    [['extra'], "demo: unexpected argument 'extra'"],
    [['--drain-timeout'], "demo: option '--drain-timeout <value>' argument missing"],
    [['--drain-timeout', '1.5'], "demo: --drain-timeout must be an integer from 0 to 2147483647 (got '1.5')"],
  ])('%j: a usage error and a hint on stderr, exit 2', async (args, line) => {
    expect(await run(args)).toEqual({
      code: 2,
      stdout: '',
      stderr: `${line}\nTry 'demo --help' for more information.\n`,
    })
  })

  it.each([['--help'], ['-h'], ['--help', '--fail', 'unused']])(
    '%s: the usage on stdout, exit 0',
    async (...args) => {
      expect(await run(args)).toEqual({ code: 0, stdout: 'Usage: demo [options]\n', stderr: '' })
    },
  )

  it('a failed start: its message on stderr, exit 1', async () => {
    expect(await run(['--fail', 'listen EADDRINUSE: address already in use 127.0.0.1:7'])).toEqual({
      code: 1,
      stdout: '',
      stderr: 'demo: listen EADDRINUSE: address already in use 127.0.0.1:7\n',
    })
  })

  it('any other error while parsing: the stack on stderr, exit 1', async () => {
    const result = await run(['--crash'])
    expect(result.code).toBe(1)
    expect(result.stdout).toBe('')
    expect(result.stderr).toMatch(/^demo: TypeError: not a usage error\n {4}at /)
  })

  it.each(['SIGINT', 'SIGTERM'] as const)(
    '%s: listeners closed before the drain line, then the last line and exit 0',
    async (signal) => {
      const d = demo(['--drain-timeout', '1000'])
      await d.printed('demo: listening\n')
      d.child.kill(signal)
      expect(await d.exit).toEqual({ code: 0, signal: null })
      expect(d.stdout()).toBe(
        `demo: listening\ndemo: ${signal}: accepting false; draining for up to 1000 ms\ndemo: stopped; 0 cut short\n`,
      )
      expect(d.stderr()).toBe('')
    },
  )

  it('passes --drain-timeout to the servers and their aborted count to stopped()', async () => {
    const d = demo(['--drain-timeout', '5'])
    await d.printed('demo: listening\n')
    d.child.kill('SIGTERM')
    expect(await d.exit).toEqual({ code: 0, signal: null })
    expect(d.stdout()).toMatch(/draining for up to 5 ms\ndemo: stopped; 1 cut short\n$/)
  })

  it('a failing last step: the error on stderr, exit 1', async () => {
    const d = demo(['--close-fail', 'could not close'])
    await d.printed('demo: listening\n')
    d.child.kill('SIGTERM')
    expect((await d.exit).code).toBe(1)
    expect(d.stdout()).not.toContain('demo: stopped')
    expect(d.stderr()).toMatch(/^demo: Error: could not close\n/)
  })

  it('a failed serve loop: exit 1 with its stack', async () => {
    const result = await run(['--serve-fail', 'the loop broke'])
    expect(result.code).toBe(1)
    expect(result.stdout).toBe('demo: listening\n')
    expect(result.stderr).toMatch(/^demo: serve loop failed: Error: the loop broke\n {4}at /)
  })
})

describe('option helpers', () => {
  const options = { help: { type: 'boolean', short: 'h' }, port: { type: 'string' } } as const

  it('parseArgv: values typed by their config; parseArgs errors as a one-sentence UsageError', () => {
    expect(parseArgv(['-h', '--port', '7'], options)).toEqual({ help: true, port: '7' })
    expect(() => parseArgv(['--nope'], options)).toThrow(new UsageError("unknown option '--nope'"))
    expect(() => parseArgv(['x'], options)).toThrow(new UsageError("unexpected argument 'x'"))
  })

  it('integer: the fallback when absent, whole numbers from min to max only', () => {
    expect(integer('--port', undefined, 7, 65535)).toBe(7)
    expect(integer('--port', '0', 7, 65535)).toBe(0)
    expect(integer('--port', '65535', 7, 65535)).toBe(65535)
    expect(MAX_TIMER_MS).toBe(2 ** 31 - 1)
    for (const raw of ['65536', '-1', '1.5', '1e3', '', ' 1', 'abc'])
      expect(() => integer('--port', raw, 7, 65535)).toThrow(
        new UsageError(`--port must be an integer from 0 to 65535 (got '${raw}')`),
      )
    expect(() => integer('--workers', '0', 4, 256, 1)).toThrow(
      new UsageError("--workers must be an integer from 1 to 256 (got '0')"),
    )
  })

  it('choice and choiceList: one of the keys, listed in the usage with their summaries', () => {
    const modes = { fast: { summary: 'quick' }, slow: { summary: 'careful' } }
    expect(choice('--mode', undefined, 'fast', modes)).toBe('fast')
    expect(choice('--mode', 'slow', 'fast', modes)).toBe('slow')
    for (const raw of ['medium', 'toString', '__proto__'])
      expect(() => choice('--mode', raw, 'fast', modes)).toThrow(
        new UsageError(`--mode must be one of fast, slow (got '${raw}')`),
      )
    expect(choiceList(modes)).toBe('      fast        quick\n      slow        careful')
  })
})
