"""The WhatsApp channel over Meta's WhatsApp Cloud API."""
