"""What WhatsApp Cloud API and Messenger share: Meta's Graph API webhooks (the
hub.verify_token handshake, X-Hub-Signature-256) and its HTTP API (bearer token, errors),
and the 24-hour customer-service window."""
