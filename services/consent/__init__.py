"""The consent service: Consent records, sharing decisions, access checks and the disclosure log."""
