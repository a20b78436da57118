"""Rules of the consent service. Services flush; the request session commits."""
