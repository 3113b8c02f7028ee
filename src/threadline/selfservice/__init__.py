"""Self-service: the knowledge base, the bot and IVR flows, hand-off, outage mode."""
