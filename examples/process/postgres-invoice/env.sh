# Sourced by every postgres-invoice script: Debian keeps the server's
# programs (initdb, postgres, pg_ctl) in /usr/lib/postgresql/VERSION/bin,
# off PATH; psql and pg_isready are in /usr/bin.
for d in /usr/lib/postgresql/*/bin; do
  [ -x "$d/postgres" ] && PATH="$d:$PATH"
done
export PATH
# Every connection: the server's Unix socket in the private run directory
# (no TCP), as the superuser initdb made.
export PGHOST="$SNAPSIM_RUN" PGUSER=postgres PGDATABASE=postgres
