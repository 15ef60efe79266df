#!/usr/bin/env bash
# Starts Debian's PostgreSQL cluster (listening on loopback only, its default) and creates the role and database the
# PostgreSQL half of the storage suite uses. Idempotent. Needs root (it runs psql as the postgres user) and the
# `postgresql` package. Prints the two variables the tests read; `.ci/run` and the README's test section eval them:
#   eval "$(sudo scripts/ci/postgres.sh)"
# The password is a fixture for a loopback-only throwaway database, not a secret.
set -euo pipefail
export PATH="/usr/lib/postgresql/$(ls /usr/lib/postgresql | sort -V | tail -1)/bin:$PATH"
if [ -z "$(pg_lsclusters -h)" ]; then
    pg_createcluster "$(ls /usr/lib/postgresql | sort -V | tail -1)" main >&2
fi
read -r version cluster port status _ < <(pg_lsclusters -h | head -1)
if [ "$status" != "online" ]; then
    pg_ctlcluster "$version" "$cluster" start >&2
fi
as_postgres() { su postgres -s /bin/sh -c "$1"; }
as_postgres "psql -p $port -v ON_ERROR_STOP=1 -q -c \"DO \\\$\\\$ BEGIN
    IF NOT EXISTS (SELECT FROM pg_roles WHERE rolname = 'preflight') THEN
        CREATE ROLE preflight LOGIN PASSWORD 'preflight-test';
    END IF; END \\\$\\\$;\"" >&2
if ! as_postgres "psql -p $port -Atc \"SELECT 1 FROM pg_database WHERE datname = 'preflight_test'\"" | grep -q 1; then
    as_postgres "createdb -p $port -O preflight preflight_test" >&2
fi
echo "export PREFLIGHT_TEST_POSTGRES_URL='postgres://preflight@127.0.0.1:$port/preflight_test?sslmode=disable'"
echo "export PGPASSWORD='preflight-test'"
