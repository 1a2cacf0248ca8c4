#!/usr/bin/env python3
"""A tiny order service, written the way small services are: it keeps its
journal file open, appends each order as one line, fsyncs, then answers.

Listens on $SNAPSIM_RUN/orders.sock; a request is one line "ORDER item qty",
the answer "ok N" with the order's number. SIGTERM stops it.
"""
import os
import signal
import socket
import sys

path = os.path.join(os.environ["SNAPSIM_RUN"], "orders.sock")
if os.path.exists(path):
    os.unlink(path)
journal = open("orders.log", "a+b")
journal.seek(0)
count = sum(1 for _ in journal)
sync = os.environ.get("ORDERS_SYNC", "fsync")
srv = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
srv.bind(path)
srv.listen(8)
signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
while True:
    conn, _ = srv.accept()
    with conn:
        line = conn.makefile().readline().split()
        if len(line) != 3 or line[0] != "ORDER":
            conn.sendall(b"error bad request\n")
            continue
        count += 1
        journal.write(f"{count} {line[1]} {line[2]}\n".encode())
        journal.flush()
        if sync == "fsync":
            os.fsync(journal.fileno())
        conn.sendall(f"ok {count}\n".encode())
