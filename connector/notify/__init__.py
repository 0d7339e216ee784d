"""Notifications: shipping status and back-in-stock messages, with consent, the 24-hour window, cost and throughput control."""
