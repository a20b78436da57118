#!/bin/sh
# Brings every database up to date: `alembic upgrade head` for each process that owns a
# database, one after the other, stopping at the first failure (so a one-shot container or
# Kubernetes Job fails visibly and nothing starts on a half-migrated schema).
#
# Each service's Alembic env.py reads the service's own settings, so the environment must hold
# EH_<NAME>_DATABASE_URL (and EH_<NAME>_ENVIRONMENT) for every database listed here.
# The list mirrors devtools/stack.py (processes with a service_dir); tests/deploy checks it.
# Demo or service clients are never seeded here: that is an explicit, separate command.
set -eu

cd "${EH_APP_DIR:-/app}"

for service_dir in gateway services/referrals services/assessments services/consent services/notifications; do
    echo "migrate: ${service_dir}: alembic upgrade head"
    alembic -c "${service_dir}/alembic.ini" upgrade head
done
echo "migrate: every database is at head"
