"""The referrals service: Requests for Support, MASH triage and decisions, the person index."""
