"""Embedded DNS helper: answers containers' queries for container names."""
