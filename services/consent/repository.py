"""Every query of the consent service lives here."""
