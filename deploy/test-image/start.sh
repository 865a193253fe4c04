#!/bin/sh
# Default process of deis/test-app: serve over HTTP on $PORT (5000 when unset) until stopped.
# `/` answers "ok"; `/whoami` names the app, release, container and the GREETING config value,
# so tests can tell containers and releases apart through the router. httpd runs as a child so
# that this shell, PID 1, can honour SIGTERM at once.
set -e
mkdir -p /www
echo ok > /www/index.html
echo "app=${DEIS_APP:-} release=${DEIS_RELEASE:-} host=$(hostname) greeting=${GREETING:-}" > /www/whoami
echo "test-app listening on ${PORT:-5000}"
httpd -f -p "${PORT:-5000}" -h /www &
trap 'kill "$!"; exit 0' TERM INT
wait "$!"
