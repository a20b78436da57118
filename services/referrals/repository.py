"""Every query of the referrals service lives here."""
