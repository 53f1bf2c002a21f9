"""Channels: Twilio Messaging (SMS, WhatsApp), Twilio Conversations (chat), our own web chat."""
