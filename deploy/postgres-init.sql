-- One database per process that owns data (see devtools/stack.py); each service runs its own
-- Alembic migrations against its own database and never reads another's.
-- Run once by the postgres image on an empty data directory (docker-entrypoint-initdb.d),
-- as the POSTGRES_USER, who therefore owns every database.
-- For production, prefer one login role per service owning only its database
-- (CREATE ROLE eh_referrals LOGIN PASSWORD ...; CREATE DATABASE eh_referrals OWNER eh_referrals;)
-- and give each service only its own credentials.
CREATE DATABASE eh_gateway;
CREATE DATABASE eh_referrals;
CREATE DATABASE eh_assessments;
CREATE DATABASE eh_consent;
CREATE DATABASE eh_notifications;
