"""Audit: who read or changed which record, and when (never the values)."""
