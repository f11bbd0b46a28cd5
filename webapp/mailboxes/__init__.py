"""Mailboxes: the several sending identities a team spreads its volume over.

`store` keeps them (passwords sealed, URLs masked), `capacity` counts sends against
each one's rolling caps, warm-up and minimum gap (in Redis when configured, the
database otherwise), `routing` picks the mailbox of each email as the sender leases
it (a contact keeps the mailbox it was first written from), `health` pauses a
mailbox whose bounce or complaint rate climbs, `progress` says which mailbox holds
a campaign back and when its queue drains, and `probe` tests a mailbox's servers.
"""
