"""The deadline engine: rules, deadlines opened/met/moved/cancelled by events, due stages."""
