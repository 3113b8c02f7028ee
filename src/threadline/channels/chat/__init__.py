"""Threadline channels chat."""
