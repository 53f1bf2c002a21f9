"""The baseline for bench/ingest.py: a bare Flask endpoint on the webhook's path, answering empty TwiML."""
from flask import Flask, Response

app = Flask(__name__)


@app.post("/webhooks/<helpline>/twilio/messaging")
def messaging(helpline):
    return Response('<?xml version="1.0" encoding="UTF-8"?><Response />', mimetype="text/xml")
