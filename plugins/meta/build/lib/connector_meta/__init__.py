"""Shared Meta Graph API pieces: the commerce catalog, webhook signatures, and the Graph API sandbox."""
