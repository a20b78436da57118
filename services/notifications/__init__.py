"""The notifications service: Deadline rules and deadlines on working days, alerts, the in-app feed, email and signed webhooks."""
