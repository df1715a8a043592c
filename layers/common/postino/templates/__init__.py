"""Message templates: Meta's list for a WABA, cached, and the checks a send must pass."""
