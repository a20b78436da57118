"""The project's own library: what every process shares and nothing domain-specific.

Settings, database base, problem+json errors, token verification, request ids and logs,
pagination, idempotency, ETags, events (envelope, outbox, relay, receiver), the working-day
calendar and the base application factory.
"""
