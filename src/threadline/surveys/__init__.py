"""CSAT and customer-effort surveys after a contact, on the channel the customer used."""
