"""Outbound webhooks: Tune's events pushed to the CRM and the team's automation.

endpoints.py manages the receiving URLs and which event types they want,
signing.py makes and keeps their secrets and signs like Standard Webhooks,
outbox.py writes one delivery row per event and endpoint in the event's own
transaction, dispatcher.py leases those rows and posts them with retries.
"""
