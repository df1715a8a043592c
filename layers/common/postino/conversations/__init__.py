"""The inbound half: conversations, replies threaded on what we sent, and campaign reports."""
