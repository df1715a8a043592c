"""Meta's webhooks: verified and queued at the door (ingest), then processed from the queue."""
