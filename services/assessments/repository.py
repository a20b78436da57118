"""Every query of the assessments service lives here."""
