"""Email: inbound by SMTP and IMAP, outbound MIME with correct threading."""
