"""Personal data: finding everything held about one contact, exporting it (GDPR Art. 15/20) and erasing it (Art. 17)."""
