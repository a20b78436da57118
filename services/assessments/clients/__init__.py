"""Typed clients for the services the assessments service calls (consent, referrals)."""
