"""Chat: contacts, inbound messages and the outbound message outbox."""
