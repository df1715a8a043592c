"""The drain: takes queued messages off SQS and sends them under each sender's rate window."""
