"""Providers: the peers that deliver a message to WhatsApp (Meta's Cloud API; WAHA later)."""
