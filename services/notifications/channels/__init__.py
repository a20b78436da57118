"""Channels: the in-app feed, email over SMTP, signed webhooks."""
