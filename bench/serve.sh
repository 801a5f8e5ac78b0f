#!/bin/sh
# Serves the ASGI app "$1" with the server that BENCH_SERVER names, WEB_CONCURRENCY workers,
# on port 8000: the same launcher for the service and for the floors, so only the app differs.
set -eu
app=$1
workers=${WEB_CONCURRENCY:?set WEB_CONCURRENCY}
case ${BENCH_SERVER:-gunicorn} in
  gunicorn) exec gunicorn --config /app/gunicorn.conf.py "$app" ;;
  uvicorn) exec uvicorn --host 0.0.0.0 --port 8000 --workers "$workers" --no-access-log \
             --loop uvloop --http httptools "$app" ;;
  granian) exec python -m granian --interface asgi --host 0.0.0.0 --port 8000 \
             --workers "$workers" --loop uvloop "$app" ;;
  *) echo "serve.sh: unknown BENCH_SERVER '$BENCH_SERVER'" >&2; exit 2 ;;
esac
