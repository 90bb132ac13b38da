#!/bin/sh
# The streaming replica: cloned from the primary with pg_basebackup the first time (-R writes
# primary_conninfo and standby.signal), then started as a hot standby that serves reads.
set -eu
if [ ! -s "$PGDATA/PG_VERSION" ]; then
  until pg_isready -h postgres-primary -U postgres; do sleep 1; done
  export PGPASSWORD="$REPLICATION_PASSWORD"
  pg_basebackup -h postgres-primary -U replicator -D "$PGDATA" -R -X stream --checkpoint=fast
  chmod 0700 "$PGDATA"
fi
exec postgres -c hot_standby=on -c hot_standby_feedback=on
