"""The web app: webhook endpoint, admin JSON API, health check."""
