"""Receiving webhooks: the HTTP endpoint and the background processing of stored deliveries."""
