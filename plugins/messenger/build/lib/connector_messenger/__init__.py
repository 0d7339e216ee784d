"""Facebook Messenger and Instagram messaging channel plugin."""
