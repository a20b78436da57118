"""Request and response schemas of the referrals service (Pydantic only)."""
