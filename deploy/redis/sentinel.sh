#!/bin/sh
# Sentinel rewrites its configuration file (it records replicas and peers), so it is generated into a
# writable place at every start. Quorum 2 of 3: one sentinel alone can neither declare the primary
# down nor promote the replica.
set -eu
cat > /tmp/sentinel.conf <<CONF
port 26379
sentinel resolve-hostnames yes
sentinel announce-hostnames yes
sentinel monitor ${REDIS_SENTINEL_NAME} redis-primary 6379 2
sentinel down-after-milliseconds ${REDIS_SENTINEL_NAME} 5000
sentinel failover-timeout ${REDIS_SENTINEL_NAME} 30000
sentinel parallel-syncs ${REDIS_SENTINEL_NAME} 1
CONF
exec redis-server /tmp/sentinel.conf --sentinel
