"""Canned responses: ready-made replies, the helpline's and each user's own."""
