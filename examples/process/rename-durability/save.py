#!/usr/bin/env python3
"""Saves a document the way editors and configuration tools do.

Reads the save counter in DOC, writes counter + 1 to DOC.tmp, fsyncs it and
renames it over DOC. With --fsync-dir it also fsyncs the directory, which is
what makes the rename itself durable on Linux file systems.

    save.py [--fsync-dir] DOC
"""
import os
import sys

args = sys.argv[1:]
fsync_dir = "--fsync-dir" in args
args = [a for a in args if a != "--fsync-dir"]
if len(args) != 1:
    sys.exit("usage: save.py [--fsync-dir] DOC")
doc = args[0]
with open(doc) as f:
    n = int(f.read().strip() or "0")
tmp = doc + ".tmp"
fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644)
os.write(fd, f"{n + 1}\n".encode())
os.fsync(fd)
os.close(fd)
os.rename(tmp, doc)
if fsync_dir:
    d = os.open(os.path.dirname(os.path.abspath(doc)), os.O_RDONLY)
    os.fsync(d)
    os.close(d)
print(f"saved {doc} as save {n + 1}")
