"""The gateway: tokens, agency clients, routing, scopes, rate limits and the audit of every call."""
