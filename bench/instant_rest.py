#!/usr/bin/python3
"""A REST agent that answers at once: every request gets ``200 {}``.

For bench_plug.py only. It takes the agent's framing (HTTP/1.1, persistent
connections, Content-Length, the answer in one write) and none of its work,
so that a plug against it shows what the driver itself costs over REST,
apart from the agent double's Python HTTP server (the real agent's is C++).
Prints ``ready port=<port>`` and serves until killed.
"""
import socket
import threading

ANSWER = (b'HTTP/1.1 200 OK\r\n'
          b'Content-Type: application/json; charset=UTF-8\r\n'
          b'Content-Length: 2\r\n\r\n{}')


def serve(conn):
    pending = b''
    with conn:
        while True:
            data = conn.recv(65536)
            if not data:
                return
            pending += data
            while b'\r\n\r\n' in pending:
                head, rest = pending.split(b'\r\n\r\n', 1)
                length = 0
                for line in head.split(b'\r\n')[1:]:
                    name, _, value = line.partition(b':')
                    if name.strip().lower() == b'content-length':
                        length = int(value)
                if len(rest) < length:
                    break
                pending = rest[length:]
                conn.sendall(ANSWER)


def main():
    listen = socket.socket()
    listen.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    listen.bind(('127.0.0.1', 0))
    listen.listen(16)
    print('ready port=%d' % listen.getsockname()[1], flush=True)
    while True:
        conn = listen.accept()[0]
        threading.Thread(target=serve, args=(conn,), daemon=True).start()


if __name__ == '__main__':
    main()
