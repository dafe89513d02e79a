# Python's ForkingTCPServer with the bench's one-line-per-connection handler; prints its port.
import socketserver
import sys


class LineOnce(socketserver.StreamRequestHandler):
    def handle(self):
        self.wfile.write(self.rfile.readline())


class Server(socketserver.ForkingTCPServer):
    allow_reuse_address = True
    request_queue_size = 128


with Server(("127.0.0.1", 0), LineOnce) as server:
    print(server.server_address[1], flush=True)
    try:
        server.serve_forever(poll_interval=0.05)
    except KeyboardInterrupt:
        pass
