"""Contacts (one conversation with a child or caller), their messages and records."""
