"""Sender profiles: who sends, through which provider, under which limits."""
