#!/bin/sh
# The server, with the settings under test:
#   server.sh FSYNC SYNCHRONOUS_COMMIT FULL_PAGE_WRITES
. "$SNAPSIM_FILES/postgres-invoice/env.sh"
exec postgres -D data -k "$SNAPSIM_RUN" -c listen_addresses= \
  -c fsync="$1" -c synchronous_commit="$2" -c full_page_writes="$3"
