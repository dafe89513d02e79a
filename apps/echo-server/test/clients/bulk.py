"""Sends SIZE random bytes on one connection while a second thread reads the echo; prints JSON.

usage: python3 bulk.py HOST PORT SIZE
Sending and receiving run at once: a client that sent everything first would deadlock once both
directions' socket buffers are full.
"""
import hashlib
import json
import os
import socket
import sys
import threading

host, port, size = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
data = os.urandom(size)
sock = socket.create_connection((host, port), timeout=30)
send_error = []


def send():
    try:
        sock.sendall(data)
        sock.shutdown(socket.SHUT_WR)
    except OSError as error:
        send_error.append(repr(error))


sender = threading.Thread(target=send)
sender.start()
digest = hashlib.sha256()
received = 0
while True:
    chunk = sock.recv(1 << 16)
    if not chunk:
        break
    digest.update(chunk)
    received += len(chunk)
sender.join()
sock.close()
print(json.dumps({
    'sent': len(data),
    'sent_sha256': hashlib.sha256(data).hexdigest(),
    'received': received,
    'received_sha256': digest.hexdigest(),
    'send_error': send_error,
}))
