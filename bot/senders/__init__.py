"""Outbox senders: one per delivery channel (storage.outbox.Sender)."""
