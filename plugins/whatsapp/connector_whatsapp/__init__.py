"""WhatsApp Cloud API channel plugin."""
