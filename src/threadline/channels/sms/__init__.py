"""The SMS channel: one adapter, providers behind `SmsProvider` (Twilio-style first)."""
