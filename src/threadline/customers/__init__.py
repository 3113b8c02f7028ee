"""Threadline customers."""
