"""Python's socketserver peers for the bench harness: `python3 servers.py <kind> [host]`.

Keeps the harness's server contract: prints one JSON line {"ready":true,"host":...,"port":...,"pid":...}
once listening, and stops when stdin closes (the harness closed it, or died).
Kinds: threading-echo, forking-echo (64-byte ping-pong), threading-line, forking-line (a request per
connection),
udp-echo (UDPServer).
"""
import ctypes
import json
import os
import signal
import socketserver
import sys
import threading

PR_SET_PDEATHSIG = 1


class Echo(socketserver.BaseRequestHandler):
    """The plainest Python echo: recv and sendall on the socket, as raw node:net does."""

    def handle(self):
        sock = self.request
        while True:
            data = sock.recv(65536)
            if not data:
                return
            sock.sendall(data)


class LineOnce(socketserver.StreamRequestHandler):
    """One line in, the same line out, then the connection closes."""

    def handle(self):
        self.wfile.write(self.rfile.readline())


class UDPEcho(socketserver.BaseRequestHandler):
    def handle(self):
        data, sock = self.request
        sock.sendto(data, self.client_address)


class ThreadingTCPServer(socketserver.ThreadingTCPServer):
    allow_reuse_address = True
    daemon_threads = True
    block_on_close = False
    request_queue_size = 511  # node:net's backlog, as every server in the bench gets


class ForkingTCPServer(socketserver.ForkingTCPServer):
    allow_reuse_address = True
    block_on_close = False
    request_queue_size = 511
    max_children = 1000

    def finish_request(self, request, client_address):
        # In the child: die with this server, even if the harness SIGKILLs it.
        try:
            ctypes.CDLL(None).prctl(PR_SET_PDEATHSIG, signal.SIGKILL)
        except Exception:
            pass
        super().finish_request(request, client_address)


KINDS = {
    "threading-echo": (ThreadingTCPServer, Echo),
    "forking-echo": (ForkingTCPServer, Echo),
    "threading-line": (ThreadingTCPServer, LineOnce),
    "forking-line": (ForkingTCPServer, LineOnce),
    "udp-echo": (socketserver.UDPServer, UDPEcho),
}


def main():
    kind = sys.argv[1] if len(sys.argv) > 1 else ""
    host = sys.argv[2] if len(sys.argv) > 2 else "127.0.0.1"
    if kind not in KINDS:
        sys.stderr.write(f"servers.py: unknown kind {kind!r}; known: {', '.join(KINDS)}\n")
        return 2
    Server, Handler = KINDS[kind]
    server = Server((host, 0), Handler)

    def wait_stdin():
        sys.stdin.buffer.read()
        server.shutdown()

    threading.Thread(target=wait_stdin, daemon=True).start()
    ready = {"ready": True, "host": host, "port": server.server_address[1], "pid": os.getpid()}
    print(json.dumps(ready), flush=True)
    try:
        server.serve_forever(poll_interval=0.5)
    finally:
        server.server_close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
