"""The rep's workspace: who to follow up with today, and the outcomes a rep records."""
