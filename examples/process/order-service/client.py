#!/usr/bin/env python3
"""Sends one order to the service; exits 0 when it is acknowledged."""
import os
import socket
import sys

s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
s.connect(os.path.join(os.environ["SNAPSIM_RUN"], "orders.sock"))
s.sendall(f"ORDER {sys.argv[1]} {sys.argv[2]}\n".encode())
answer = s.makefile().readline().strip()
print(answer)
sys.exit(0 if answer.startswith("ok ") else 1)
