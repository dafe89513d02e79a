// IRC over TLS (port 6697 style) and the line protocol over TLS: an IRC client over TLS — Python's
// ssl module speaking IRC lines (`ii` does not do TLS) — and a line-protocol user over TLS in the
// same room; certificates made at test time.
import { afterEach, describe, expect, it } from 'vitest'
import { useCertificates } from '../../../packages/transport-tls/test/helpers/certs.js'
import { runClient } from '../../../packages/transport-tls/test/helpers/clients.js'
// The built server: the fork mode loads its handlers from dist/.
import { type ChatServer, startChatServer } from '../dist/index.js'

const certs = useCertificates()
let chat: ChatServer | undefined
afterEach(async () => {
  await chat?.close()
  chat = undefined
})

/** Registers on IRC over TLS, joins #lobby, says one line; the line user over TLS must see it. */
const script = (ca: string, ircPort: number, linePort: number) => `
import socket, ssl, sys, time
ctx = ssl.create_default_context(cafile=${JSON.stringify(ca)})
def connect(port):
    s = ctx.wrap_socket(socket.create_connection(('127.0.0.1', port)), server_hostname='localhost')
    s.settimeout(10)
    return s
def wait_for(s, text, buf=[b'']):
    data = b''
    while text.encode() not in data:
        chunk = s.recv(4096)
        if not chunk: raise SystemExit('closed before ' + text + ': ' + data.decode())
        data += chunk
    return data.decode()
line = connect(${linePort})
line.sendall(b'liner\\n')
wait_for(line, 'you are now liner')
line.sendall(b'/join lobby\\n')
wait_for(line, 'you joined #lobby')
irc = connect(${ircPort})
irc.sendall(b'NICK pyirc\\r\\nUSER pyirc 0 * :Python over TLS\\r\\n')
welcome = wait_for(irc, ' 001 ')
irc.sendall(b'JOIN #lobby\\r\\n')
wait_for(irc, ' 366 ')
irc.sendall(b'PRIVMSG #lobby :hello over tls\\r\\n')
got = wait_for(line, 'hello over tls')
sys.stdout.write('registered\\n' if ' 001 pyirc ' in welcome else welcome)
sys.stdout.write(got.strip().splitlines()[-1] + '\\n')
irc.sendall(b'QUIT :bye\\r\\n')
`

describe('chat over TLS', () => {
  for (const mode of ['event-loop', 'fork'] as const) {
    it(`IRC over TLS and the line protocol over TLS share a room (${mode})`, async () => {
      const { server, ca } = certs()
      chat = await startChatServer({
        mode,
        workers: 1,
        port: null,
        ircPort: null,
        tlsPort: 0,
        ircTlsPort: 0,
        tls: { key: server.key, cert: server.cert },
      })
      const port = (protocol: string) => chat!.listeners.find((l) => l.protocol === protocol)!.address.port
      expect(chat.listeners.map((l) => l.protocol)).toEqual(['line+tls', 'irc+tls'])
      const { stdout, stderr } = await runClient(
        'python3',
        ['-c', script(ca.certFile, port('irc+tls'), port('line+tls'))],
        {
          timeout: 20_000,
        },
      )
      expect(stderr).toBe('')
      expect(stdout).toBe('registered\n[#lobby] <pyirc> hello over tls\n')
    })
  }
})
