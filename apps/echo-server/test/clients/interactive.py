"""Sends messages one at a time and reads each echo before sending the next (no EOF in between),
then half-closes and expects EOF. Prints JSON.

usage: python3 interactive.py HOST PORT
"""
import json
import socket
import sys

host, port = sys.argv[1], int(sys.argv[2])
messages = [b'hello\n', b'no newline', b'\x00\x01\xfe\xff binary \r\n', 'unicod\u00e9 \u2603\n'.encode()]
echoes = []
with socket.create_connection((host, port), timeout=10) as sock:
    for message in messages:
        sock.sendall(message)
        got = b''
        while len(got) < len(message):
            chunk = sock.recv(len(message) - len(got))
            if not chunk:
                break
            got += chunk
        echoes.append(got.hex())
    sock.shutdown(socket.SHUT_WR)
    rest = sock.recv(1024)
print(json.dumps({'sent': [m.hex() for m in messages], 'echoes': echoes, 'after_eof': rest.hex()}))
