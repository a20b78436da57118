"""Request and response schemas of the consent service (Pydantic only)."""
