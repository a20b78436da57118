"""Request and response schemas of the notifications service (Pydantic only)."""
