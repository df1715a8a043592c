"""Postino: a serverless WhatsApp messaging gateway.

The flow, folder by folder: messages (what a user may send) → send (accept and
queue) → outbox (the SQS queue) → drain (rate window, claim, send, outcome) →
providers (Meta's Cloud API) → store (DynamoDB, one module per table).
"""
