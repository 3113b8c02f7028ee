"""The voice channel: Twilio-style voice webhooks answered with TwiML, a configurable IVR per
number, a hold loop that connects the caller to the agent who accepts the offer."""
