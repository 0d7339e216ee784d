"""Selling through chat: segments, campaigns to them, what chat earned (attribution) and Meta's Conversions API."""
