"""Fake providers speaking the providers' real protocols over HTTP/SMTP."""
