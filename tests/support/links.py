"""The link signing key the tests' stack holds in Secrets Manager."""

LINK_KEY = "test-link-signing-key"
LINK_KEY_SECRET = "postino/links/signing-key"
