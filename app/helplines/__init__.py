"""Helplines (the tenants): their settings, Twilio credentials and the demo seed."""
