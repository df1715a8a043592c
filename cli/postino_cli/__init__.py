"""`postino`: a command line for a running Postino stack, over its HTTP API only."""
