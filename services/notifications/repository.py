"""Every query of the notifications service lives here."""
