"""Profiles: the contacts from one channel address, and their flags (blocked, abusive)."""
