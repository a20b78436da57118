"""Rules of the notifications service. Services flush; the request session commits."""
