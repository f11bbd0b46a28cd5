"""Sequences: a campaign's first email and the follow-ups that go to those who have not answered.

`steps` keeps the steps, their templates and variants; `windows` says when a
contact may be written to; `rules` decides whether a contact's sequence goes
on; `variants` splits contacts and judges the A/B figures; `scheduler` finds
due work through one index and leases it like the send queue; `control` is
what a rep does by hand and what a prospect page shows.
"""
