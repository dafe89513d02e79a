#!/bin/sh
# The rpcgen-built C KV server for the Sun RPC scenarios: builds it from apps/rpc-server/kv.x
# (rpcgen's dispatcher and XDR routines, this directory's kv_server.c) into a temp dir, runs it on
# 127.0.0.1 (port 0: a free one), and removes the dir when it exits. Nothing generated is kept.
set -eu
here=$(cd "$(dirname "$0")" && pwd)
x="$here/../../../rpc-server/kv.x"
dir=$(mktemp -d "${TMPDIR:-/tmp}/kv-rpcgen-bench-XXXXXX")
trap 'rm -rf "$dir"' EXIT
trap 'exit 0' TERM INT
cp "$x" "$dir/kv.x"
cp "$here/kv_server.c" "$dir/"
cd "$dir"
rpcgen -h kv.x -o kv.h
rpcgen -c kv.x -o kv_xdr.c
rpcgen -m kv.x -o kv_svc.c
cc -O2 -w -I/usr/include/tirpc -I. -o kv_server kv_server.c kv_svc.c kv_xdr.c -ltirpc -lpthread
./kv_server 0
