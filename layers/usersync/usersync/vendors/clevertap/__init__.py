"""CleverTap Upload User Profiles API: profile upserts by identity."""
