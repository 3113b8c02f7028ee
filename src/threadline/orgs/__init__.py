"""Threadline orgs."""
