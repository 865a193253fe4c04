#!/bin/sh
# Default process of deis/test-app: serve "ok" over HTTP on $PORT (5000 when unset) until
# stopped. httpd runs as a child so that this shell, PID 1, can honour SIGTERM at once.
set -e
mkdir -p /www
echo ok > /www/index.html
echo "test-app listening on ${PORT:-5000}"
httpd -f -p "${PORT:-5000}" -h /www &
trap 'kill "$!"; exit 0' TERM INT
wait "$!"
