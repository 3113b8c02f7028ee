"""Self-service: the knowledge base and help center (knowledge/); bot and IVR flows, hand-off
and outage mode join it as their own subpackages."""
