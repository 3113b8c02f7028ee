"""Outbound webhooks: admins subscribe URLs to domain events; signed, retried deliveries."""
