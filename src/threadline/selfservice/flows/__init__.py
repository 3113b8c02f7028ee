"""Self-service flows: one engine for the bot and the IVR (schemas: the definition; engine:
the pure conversation; render: actions in each channel's own shape)."""
