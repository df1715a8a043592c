"""Accepting messages from users, and what users may do with them afterwards."""
