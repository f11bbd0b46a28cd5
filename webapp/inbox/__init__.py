"""The inbox: what comes back after sending, read and put where it belongs.

Replies, out-of-office answers, delivery status notifications and spam
complaints arrive in the sender's mailbox (read over IMAP by `poller`) or from
the sending provider (`webhooks`). `message` tells what each one is, `matching`
finds the email Tune sent that it answers, and `outcomes` records it: reply
events and stored reply text, auto-reply events and return dates, bounces and
complaints with the suppression list.
"""
