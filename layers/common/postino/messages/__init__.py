"""What a message is: its content in Meta's shape, its record, its statuses and timeline."""
