"""Persistence: one small module per DynamoDB table; nothing above this package touches boto3."""
