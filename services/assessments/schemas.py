"""Request and response schemas of the assessments service (Pydantic only)."""
