"""Rules of the assessments service. Services flush; the request session commits."""
