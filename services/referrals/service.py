"""Rules of the referrals service. Services flush; the request session commits."""
