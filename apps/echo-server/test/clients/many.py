"""Opens N connections at once with selectors; each sends a distinct message and reads its echo.
Only when every connection has its echo (all N open at the same time) do they half-close, then each
expects EOF. Prints JSON; gives up after LIMIT seconds.

usage: python3 many.py HOST PORT N LIMIT
"""
import json
import os
import selectors
import socket
import sys
import time

host, port, n, limit = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), float(sys.argv[4])
deadline = time.monotonic() + limit
sel = selectors.DefaultSelector()
conns = []
for i in range(n):
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setblocking(False)
    sock.connect_ex((host, port))  # EINPROGRESS; the result shows up as SO_ERROR once writable
    message = (f'client {i} {os.urandom(6).hex()}\n'.encode()) * (1 + i % 4)
    conn = {'sock': sock, 'message': message, 'sent': 0, 'got': bytearray(), 'eof': False, 'open': True}
    conns.append(conn)
    sel.register(sock, selectors.EVENT_WRITE, conn)

echoed = 0
open_count = n
half_closed = False
errors = []


def drop(conn, error):
    global open_count, deadline
    errors.append(f'client {conns.index(conn)}: {error!r}')
    # The echo phase can no longer complete for everyone: report soon rather than at the deadline.
    deadline = min(deadline, time.monotonic() + 2)
    sel.unregister(conn['sock'])
    conn['sock'].close()
    conn['open'] = False
    open_count -= 1


while open_count and time.monotonic() < deadline:
    for key, events in sel.select(timeout=0.2):
        conn, sock = key.data, key.fileobj
        try:
            if events & selectors.EVENT_WRITE:
                error = sock.getsockopt(socket.SOL_SOCKET, socket.SO_ERROR)
                if error:
                    raise OSError(error, os.strerror(error))
                conn['sent'] += sock.send(conn['message'][conn['sent']:])
                if conn['sent'] == len(conn['message']):
                    sel.modify(sock, selectors.EVENT_READ, conn)
            elif events & selectors.EVENT_READ:
                chunk = sock.recv(1 << 16)
                if chunk:
                    before = len(conn['got'])
                    conn['got'] += chunk
                    if before < len(conn['message']) <= len(conn['got']):
                        echoed += 1
                else:
                    conn['eof'] = True
                    sel.unregister(sock)
                    sock.close()
                    conn['open'] = False
                    open_count -= 1
        except OSError as error:
            drop(conn, error)
    if not half_closed and echoed == n:
        half_closed = True
        for conn in conns:
            if conn['open']:
                conn['sock'].shutdown(socket.SHUT_WR)

stuck = [
    {'i': i, 'sent': c['sent'], 'of': len(c['message']), 'got': len(c['got']), 'eof': c['eof']}
    for i, c in enumerate(conns)
    if c['open']
]
for conn in conns:
    if conn['open']:
        conn['sock'].close()
print(json.dumps({
    'seconds': round(limit - (deadline - time.monotonic()), 2),
    'stuck': stuck[:5],
    'stuck_count': len(stuck),
    'n': n,
    'echoed_while_all_open': echoed if half_closed else 0,
    'correct': sum(1 for c in conns if c['eof'] and bytes(c['got']) == c['message']),
    'distinct_messages': len({c['message'] for c in conns}),
    'errors': errors[:5],
    'error_count': len(errors),
    'timed_out': open_count > 0,
}))
